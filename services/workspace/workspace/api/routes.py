"""The internal routes and health routes (FastAPI): thin handlers over the use cases, and
the mapping of domain errors to problem+json."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from shared.contracts import IDENTIFIER_MAX, IDENTIFIER_PATTERN, ExecutionResult
from shared.paging import DEFAULT_LIMIT, MAX_LIMIT
from shared.web import service_caller
from workspace.api.schemas import (
    AdmissionList,
    AdmissionRead,
    ExecutionList,
    ExecutionPage,
    ExecutionRead,
    ModelList,
    PlanPut,
    PlanRead,
    PlanUsage,
    ResultBatch,
    RunAdmitBatch,
    RunAdmitOne,
    WorkspaceCreate,
    WorkspaceList,
    WorkspacePatch,
    WorkspaceRead,
    usage_items,
)
from workspace.domain import IDEMPOTENCY_KEY_MAX, InvalidInputError, KeyDirectory, WorkspaceError
from workspace.service import Ledger, RunBounds, WorkspaceService
from workspace.settings import WorkspaceSettings


def _id_path() -> Any:
    """A path parameter that is a contract `Identifier`."""
    return Path(min_length=1, max_length=IDENTIFIER_MAX, pattern=IDENTIFIER_PATTERN)


OrgId = Annotated[str, _id_path()]
WsId = Annotated[str, _id_path()]
ExecId = Annotated[str, _id_path()]


async def service(request: Request) -> WorkspaceService:
    svc: WorkspaceService = request.app.state.workspaces
    return svc


async def ledger(request: Request) -> Ledger:
    led: Ledger = request.app.state.ledger
    return led


async def run_bounds(request: Request) -> RunBounds:
    bounds: RunBounds = request.app.state.run_bounds
    return bounds


def key_directory(request: Request) -> KeyDirectory:
    """Key metadata read from keyvault.keys.v1: the names shown on executions."""
    keys: KeyDirectory = request.app.state.workspaces.keys
    return keys


Svc = Annotated[WorkspaceService, Depends(service)]
Keys = Annotated[KeyDirectory, Depends(key_directory)]
Bounds = Annotated[RunBounds, Depends(run_bounds)]
Led = Annotated[Ledger, Depends(ledger)]


def build_router(settings: WorkspaceSettings) -> APIRouter:
    """The /internal/v1 routes; every one needs a service credential."""
    gateway_only = Depends(service_caller(settings, allowed={"gateway"}))
    gateway_or_keyvault = Depends(service_caller(settings, allowed={"gateway", "keyvault"}))
    r = APIRouter(prefix="/internal/v1")

    async def plan_read(svc: WorkspaceService, led: Ledger, org_id: str) -> PlanRead:
        org, limits = await svc.plan_of(org_id)
        count = await svc.workspace_count(org_id)
        totals = await led.month_totals(org_id)
        return PlanRead(
            plan=org.plan,
            limits=limits,
            usage=PlanUsage(
                workspaces=count,
                executions_this_month=totals.executions,
                cost_usd_this_month=totals.cost_usd,
            ),
        )

    @r.get("/orgs/{org_id}/plan", dependencies=[gateway_only])
    async def get_plan(org_id: OrgId, svc: Svc, led: Led) -> PlanRead:
        """The org's plan, limits and this month's usage (UTC calendar month)."""
        return await plan_read(svc, led, org_id)

    @r.put("/orgs/{org_id}/plan", dependencies=[gateway_only])
    async def put_plan(org_id: OrgId, body: PlanPut, svc: Svc, led: Led) -> PlanRead:
        """Change the org's plan (platform admin, via the gateway)."""
        await svc.set_plan(org_id, body.plan)
        return await plan_read(svc, led, org_id)

    @r.get("/orgs/{org_id}/workspaces", dependencies=[gateway_only])
    async def list_workspaces(org_id: OrgId, svc: Svc, led: Led) -> WorkspaceList:
        """The org's workspaces, oldest first, each with its cost this UTC month."""
        items = await svc.list_workspaces(org_id)
        spent = await led.month_spend_by_workspace(org_id)
        return WorkspaceList(
            items=[WorkspaceRead.from_domain(w, spent.get(w.id, 0.0)) for w in items]
        )

    @r.post("/orgs/{org_id}/workspaces", status_code=201, dependencies=[gateway_only])
    async def create_workspace(org_id: OrgId, body: WorkspaceCreate, svc: Svc) -> WorkspaceRead:
        """Create an empty workspace within the plan's limit."""
        return WorkspaceRead.from_domain(await svc.create_workspace(org_id, body.name))

    @r.get("/orgs/{org_id}/workspaces/{ws_id}", dependencies=[gateway_or_keyvault])
    async def get_workspace(org_id: OrgId, ws_id: WsId, svc: Svc, led: Led) -> WorkspaceRead:
        """One workspace with its ordered key assignments and its cost this UTC month."""
        workspace = await svc.get_workspace(org_id, ws_id)
        spent = await led.month_spend_by_workspace(org_id)
        return WorkspaceRead.from_domain(workspace, spent.get(ws_id, 0.0))

    @r.patch("/orgs/{org_id}/workspaces/{ws_id}", dependencies=[gateway_only])
    async def patch_workspace(
        org_id: OrgId, ws_id: WsId, body: WorkspacePatch, svc: Svc, led: Led
    ) -> WorkspaceRead:
        """Rename a workspace, replace its ordered key assignments, set its monthly budget,
        key routing and test-run max_tokens cap."""
        if "budget_usd_monthly" in body.model_fields_set:
            await svc.set_budget(org_id, ws_id, body.budget_usd_monthly)
        updated = await svc.update_workspace(
            org_id,
            ws_id,
            name=body.name,
            key_ids=body.ai_provider_ids,
            routing=body.routing,
            max_tokens_cap=body.max_tokens_cap,
            cap_given="max_tokens_cap" in body.model_fields_set,
        )
        spent = await led.month_spend_by_workspace(org_id)
        return WorkspaceRead.from_domain(updated, spent.get(ws_id, 0.0))

    @r.post("/orgs/{org_id}/test-runs", dependencies=[gateway_only])
    async def admit_test_runs(org_id: OrgId, body: RunAdmitBatch, bounds: Bounds) -> AdmissionList:
        """Admit the org's test runs, in order (a gateway sends its concurrent ones together):
        each one's workspace (404), max_tokens cap (422), the org's rate limit (429 with
        `retry_after_s`) and Idempotency-Key (a replay of the same request, 409 for another
        body). A refusal is that item's; a store failure fails the call (503)."""
        outcomes = await bounds.admit(org_id, [item.to_domain() for item in body.items])
        return AdmissionList(items=[AdmissionRead.from_domain(o) for o in outcomes])

    @r.post(
        "/orgs/{org_id}/workspaces/{ws_id}/test-runs", dependencies=[gateway_only], deprecated=True
    )
    async def admit_test_run(
        org_id: OrgId, ws_id: WsId, body: RunAdmitOne, bounds: Bounds
    ) -> AdmissionRead:
        """One test run, for gateways older than the batched route during a rolling upgrade
        (its refusal is the answer's status); to be removed in the next release."""
        [outcome] = await bounds.admit(org_id, [body.to_domain(ws_id)])
        if isinstance(outcome, WorkspaceError):
            raise outcome
        return AdmissionRead.from_domain(outcome)

    @r.delete("/orgs/{org_id}/idempotency-keys/{key}", status_code=204, dependencies=[gateway_only])
    async def release_idempotency_key(
        org_id: OrgId,
        key: Annotated[str, Path(min_length=1, max_length=IDEMPOTENCY_KEY_MAX)],
        execution_id: Annotated[str, Query(min_length=1, max_length=IDENTIFIER_MAX)],
        bounds: Bounds,
    ) -> Response:
        """Forget a claim whose execution was never requested (its publish failed)."""
        await bounds.release(org_id, idempotency_key=key, execution_id=execution_id)
        return Response(status_code=204)

    @r.delete("/orgs/{org_id}/workspaces/{ws_id}", status_code=204, dependencies=[gateway_only])
    async def delete_workspace(org_id: OrgId, ws_id: WsId, svc: Svc) -> Response:
        """Delete a workspace; its assignments are withdrawn."""
        await svc.delete_workspace(org_id, ws_id)
        return Response(status_code=204)

    @r.get("/orgs/{org_id}/workspaces/{ws_id}/models", dependencies=[gateway_only])
    async def workspace_models(org_id: OrgId, ws_id: WsId, svc: Svc) -> ModelList:
        """Catalog models of the providers with a live key assigned, in catalog order."""
        return ModelList.from_domain(await svc.models(org_id, ws_id))

    @r.get("/orgs/{org_id}/usage", dependencies=[gateway_only])
    async def usage(
        org_id: OrgId,
        led: Led,
        group_by: Literal["key", "workspace", "model"] = "key",
        since: Annotated[datetime | None, Query()] = None,
        until: Annotated[datetime | None, Query()] = None,
        interval: Literal["day"] | None = None,
    ) -> dict[str, Any]:
        """Executions, tokens and cost grouped by key, workspace or model in [since, until),
        and by UTC day with `interval=day`."""
        rows = await led.usage(org_id, group_by, since, until, interval)
        return usage_items(group_by, rows)

    @r.get("/orgs/{org_id}/executions/{execution_id}", dependencies=[gateway_only])
    async def get_execution(
        org_id: OrgId, execution_id: ExecId, led: Led, keys: Keys
    ) -> ExecutionRead:
        """One execution: queued until its result arrives; with its key's name."""
        record = await led.execution(org_id, execution_id)
        return ExecutionRead.from_domain(record, keys.name_of(org_id, record.key_id))

    @r.post("/orgs/{org_id}/executions/results", dependencies=[gateway_only])
    async def record_results_batch(
        org_id: OrgId, body: ResultBatch, led: Led, keys: Keys
    ) -> ExecutionList:
        """Record results the gateway already holds (its test runs), then answer each
        execution as the ledger holds it, in order: every later read, on any gateway, agrees
        with the answer its caller got."""
        if any(result.org_id != org_id for result in body.items):
            raise InvalidInputError("every result's org_id must be the org of the path")
        records = await led.record_and_read(body.items)
        return ExecutionList(
            items=[ExecutionRead.from_domain(r, keys.name_of(org_id, r.key_id)) for r in records]
        )

    @r.post(
        "/orgs/{org_id}/executions/{execution_id}/result",
        dependencies=[gateway_only],
        deprecated=True,
    )
    async def record_result(
        org_id: OrgId, execution_id: ExecId, body: ExecutionResult, led: Led, keys: Keys
    ) -> ExecutionRead:
        """One result, for gateways older than the batched route during a rolling upgrade;
        to be removed in the next release."""
        if body.org_id != org_id or body.execution_id != execution_id:
            raise InvalidInputError("the result's org_id and execution_id must match the path")
        [record] = await led.record_and_read([body])
        return ExecutionRead.from_domain(record, keys.name_of(org_id, record.key_id))

    @r.get("/orgs/{org_id}/workspaces/{ws_id}/executions", dependencies=[gateway_only])
    async def recent_executions(
        org_id: OrgId,
        ws_id: WsId,
        led: Led,
        keys: Keys,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> ExecutionPage:
        """The workspace's executions, newest first, one page at a time."""
        records, next_cursor = await led.recent(org_id, ws_id, limit=limit, cursor=cursor)
        return ExecutionPage(
            items=[ExecutionRead.from_domain(x, keys.name_of(org_id, x.key_id)) for x in records],
            next_cursor=next_cursor,
        )

    return r
