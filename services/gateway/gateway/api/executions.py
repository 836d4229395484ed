"""Test runs: publish an ExecutionRequested as a workflow engine would, optionally wait."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from gateway.api.deps import GatewayDep, MemberDep, PageDep, object_id
from gateway.api.openapi import EXECUTION, errors
from gateway.api.schemas import Execution, ExecutionCreate, ExecutionPage, ExecutionQueued
from gateway.api.workspaces import workspaces_path
from gateway.clients import seg, unavailable
from gateway.domain import WS_NOT_FOUND, BusUnavailableError
from gateway.service import Gateway, key_names, recorded
from shared.contracts import ExecutionRequested
from shared.web import ProblemError

router = APIRouter(tags=["Executions"])
TEST_ORIGIN = "gateway-test"


IDEMPOTENCY_KEY_PATTERN = "^[!-~]{1,255}$"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "Makes a retry safe: the same key with the same model and input within 24 h "
            "answers the same execution (no second provider call); with another body, 409 "
            "`idempotency_conflict`. 1–255 printable ASCII characters, e.g. a UUID."
        ),
    ),
]


@router.post(
    "/workspaces/{workspace_id}/executions",
    status_code=202,
    response_model=None,
    responses={
        202: {
            "model": ExecutionQueued,
            "description": "Requested; the result was not in within `wait_seconds`.",
            "content": {
                "application/json": {"example": {"execution_id": "exec-1", "status": "queued"}}
            },
        },
        200: {
            "model": Execution,
            "description": "Finished within `wait_seconds`.",
            "content": {"application/json": {"example": EXECUTION}},
        },
        **errors(404, 409, 413, 422, 429),
    },
)
async def run_execution(
    workspace_id: str,
    body: ExecutionCreate,
    gw: GatewayDep,
    who: MemberDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Run a model in a workspace as an Agent node would; wait up to `wait_seconds` for it.

    Bounded: the workspace's `max_tokens_cap` (422), the organization's rate of test runs
    (429 `rate_limited` with `Retry-After`), and `Idempotency-Key` (a repeat answers the
    first execution, marked `Idempotent-Replayed: true`)."""
    ws = object_id(workspace_id, "workspace")
    request = ExecutionRequested(
        execution_id=f"exec-{uuid.uuid4().hex}",
        org_id=who.org_id,
        workspace_id=ws,
        workflow_id=TEST_ORIGIN,
        node_id=TEST_ORIGIN,
        model=body.model,
        input=body.input.to_contract(),
    )
    admission = await gw.batches.admit(
        who.org_id,
        {
            "workspace_id": ws,
            "execution_id": request.execution_id,
            "max_tokens": request.input.max_tokens,
            "body_hash": request_hash(ws, body),
            "idempotency_key": idempotency_key,
        },
    )
    if admission.get("replay"):
        return await _replay(gw, who.org_id, str(admission["execution_id"]), body.wait_seconds)

    async def publish() -> None:
        try:
            await gw.bus.publish(request)
        except BusUnavailableError:
            if idempotency_key is not None:
                # Never requested: a retry with the same key must run it, not wait for it.
                with contextlib.suppress(ProblemError):
                    await gw.workspace.call(
                        "DELETE",
                        f"/internal/v1/orgs/{seg(who.org_id)}/idempotency-keys/"
                        f"{seg(idempotency_key)}",
                        params={"execution_id": request.execution_id},
                    )
            raise unavailable("kafka") from None

    result = await gw.bus.wait_for(request.org_id, request.execution_id, body.wait_seconds, publish)
    if result is None:
        queued = ExecutionQueued(execution_id=request.execution_id)
        return JSONResponse(queued.model_dump(mode="json"), status_code=202)
    execution = Execution.model_validate(await recorded(gw, result))
    await _named(gw, who.org_id, [execution])
    return JSONResponse(execution.model_dump(mode="json"), status_code=200)


def request_hash(workspace_id: str, body: ExecutionCreate) -> str:
    """What an Idempotency-Key is bound to: workspace, model and input (not `wait_seconds`,
    which changes only how long this answer waits)."""
    canonical = json.dumps(
        {
            "workspace_id": workspace_id,
            "model": body.model,
            "input": body.input.model_dump(mode="json"),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _replay(gw: Gateway, org_id: str, execution_id: str, wait_seconds: float) -> JSONResponse:
    """The answer to a repeated Idempotency-Key: the first request's execution, as it stands
    (waiting up to `wait_seconds` for it like the first request); nothing is published."""
    replayed = {"Idempotent-Replayed": "true"}

    async def ledger() -> Execution | None:
        try:
            data = await gw.workspace.call(
                "GET", f"/internal/v1/orgs/{seg(org_id)}/executions/{seg(execution_id)}"
            )
        except ProblemError as exc:
            if exc.status == 404:  # requested, not in the ledger yet
                return None
            raise
        return Execution.model_validate(data)

    async def nothing() -> None:
        return None

    execution = await ledger()
    if (execution is None or execution.status == "queued") and wait_seconds > 0:
        result = await gw.bus.wait_for(org_id, execution_id, wait_seconds, nothing)
        execution = (
            Execution.model_validate(await recorded(gw, result)) if result else await ledger()
        )
    if execution is None or execution.status == "queued":
        queued = ExecutionQueued(execution_id=execution_id)
        return JSONResponse(queued.model_dump(mode="json"), status_code=202, headers=replayed)
    await _named(gw, org_id, [execution])
    return JSONResponse(execution.model_dump(mode="json"), status_code=200, headers=replayed)


async def _named(gw: Gateway, org_id: str, executions: list[Execution]) -> None:
    """Fill in the name of the key each execution used where workspace's answer has none
    (workspace names them from keyvault.keys.v1; keyvault is asked only for a key that
    workspace has not heard of yet)."""
    unnamed = [e for e in executions if e.key_id and e.key_name is None]
    names = await key_names(gw, org_id, {e.key_id for e in unnamed if e.key_id})
    for execution in unnamed:
        execution.key_name = names.get(execution.key_id or "")


@router.get(
    "/executions/{execution_id}",
    responses={200: {"content": {"application/json": {"example": EXECUTION}}}, **errors(404)},
)
async def get_execution(execution_id: str, gw: GatewayDep, who: MemberDep) -> Execution:
    """Read an execution of the organization from the usage ledger."""
    ex = object_id(execution_id, "execution")
    data = await gw.workspace.call(
        "GET",
        f"/internal/v1/orgs/{seg(who.org_id)}/executions/{seg(ex)}",
        not_found="execution not found",
    )
    execution = Execution.model_validate(data)
    await _named(gw, who.org_id, [execution])
    return execution


@router.get(
    "/workspaces/{workspace_id}/executions",
    responses={
        200: {
            "content": {
                "application/json": {"example": {"items": [EXECUTION], "next_cursor": None}}
            }
        },
        **errors(404, 422),
    },
)
async def list_workspace_executions(
    workspace_id: str,
    gw: GatewayDep,
    who: MemberDep,
    page: PageDep,
) -> ExecutionPage:
    """The workspace's recent executions (test runs and workflow runs), newest first."""
    ws = object_id(workspace_id, "workspace")
    path = f"{workspaces_path(who.org_id)}/{seg(ws)}"
    await gw.workspace.call("GET", path, not_found=WS_NOT_FOUND)
    data = await gw.workspace.call("GET", f"{path}/executions", params=page.params())
    executions = ExecutionPage.model_validate(data)
    await _named(gw, who.org_id, executions.items)
    return executions
