"""Catalog, plan, usage, audit, and the platform administrators' plan change."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from gateway.api.deps import GatewayDep, MemberDep, OwnerDep, PageDep, PlatformAdminDep
from gateway.api.openapi import PLAN, TS, errors, ok
from gateway.api.schemas import (
    AlertList,
    AuditList,
    Catalog,
    Plan,
    PlanChange,
    UsageList,
    UsageRow,
    drop_none_groups,
)
from gateway.clients import seg
from gateway.service import plan_with_key_count
from shared.catalog import CATALOG
from shared.contracts import IDENTIFIER_MAX, IDENTIFIER_PATTERN, is_identifier
from shared.web import ProblemError

router = APIRouter()

_CATALOG = Catalog.model_validate(
    {
        "providers": [
            {
                "id": p.id,
                "name": p.name,
                "models": [{"id": m.id, "best_for": m.best_for} for m in p.models],
            }
            for p in CATALOG
        ]
    }
)


@router.get(
    "/catalog",
    tags=["Catalog"],
    responses={**ok(200, _CATALOG.model_dump(mode="json")), **errors()},
)
async def get_catalog(who: MemberDep) -> Catalog:
    """Every provider and its models, with what each model is best for."""
    return _CATALOG


@router.get("/plan", tags=["Plan and usage"], responses={**ok(200, PLAN), **errors(403)})
async def get_plan(gw: GatewayDep, who: OwnerDep) -> Plan:
    """The organization's plan, its limits (null is unlimited) and what is used."""
    return Plan.model_validate(await plan_with_key_count(gw, who.org_id))


@router.get(
    "/usage",
    tags=["Plan and usage"],
    responses={
        **ok(
            200,
            {
                "items": [
                    {
                        "key_id": "key-5f2c",
                        "executions": 42,
                        "input_tokens": 5120,
                        "output_tokens": 980,
                        "cost_usd": 0.37,
                    }
                ]
            },
        ),
        **errors(403, 422),
    },
)
async def get_usage(
    gw: GatewayDep,
    who: OwnerDep,
    group_by: Annotated[
        Literal["key", "workspace", "model"], Query(description="Grouping.")
    ] = "key",
    since: Annotated[datetime | None, Query(description="From (RFC 3339), inclusive.")] = None,
    until: Annotated[datetime | None, Query(description="Until (RFC 3339), exclusive.")] = None,
    interval: Annotated[
        Literal["day"] | None, Query(description="`day`: one row per group and UTC day.")
    ] = None,
) -> UsageList:
    """Executions, tokens and cost per key, workspace or model (and per day, if asked)."""
    params: dict[str, str] = {"group_by": group_by}
    if interval is not None:
        params["interval"] = interval
    if since is not None:
        params["since"] = since.isoformat()
    if until is not None:
        params["until"] = until.isoformat()
    data = await gw.workspace.call(
        "GET", f"/internal/v1/orgs/{seg(who.org_id)}/usage", params=params
    )
    rows = [UsageRow.model_validate(drop_none_groups(r, group_by)) for r in data.get("items", [])]
    return UsageList(items=rows)


@router.get(
    "/audit",
    tags=["Plan and usage"],
    response_model_exclude_none=False,
    responses={
        **ok(
            200,
            {
                "items": [
                    {
                        "at": TS,
                        "key_id": "key-5f2c",
                        "workspace_id": "ws-1",
                        "execution_id": "exec-1",
                        "actor": "agent-runner",
                        "action": "resolved",
                    }
                ],
                "next_cursor": None,
            },
        ),
        **errors(403, 422),
    },
)
async def list_audit(
    gw: GatewayDep,
    who: OwnerDep,
    page: PageDep,
    key_id: Annotated[
        str | None, Query(max_length=128, description="Only this key's entries.")
    ] = None,
) -> AuditList:
    """Every decryption and every key change, newest first, one page at a time."""
    data = await gw.keyvault.call(
        "GET", f"/internal/v1/orgs/{seg(who.org_id)}/audit", params=page.params(key_id=key_id)
    )
    return AuditList.model_validate(data)


@router.get(
    "/alerts",
    tags=["Plan and usage"],
    response_model_exclude_none=False,
    responses={
        **ok(
            200,
            {
                "items": [
                    {
                        "alert_id": "budget:key:key-5f2c:2026-11:80",
                        "kind": "budget",
                        "scope": "key",
                        "scope_id": "key-5f2c",
                        "threshold_pct": 80,
                        "month": "2026-11",
                        "budget_usd": 100.0,
                        "spent_usd": 80.4,
                        "expires_at": None,
                        "message": "Provider key 'Production' has spent $80.40 of its $100.00 "
                        "monthly budget (80 %); it resets on 2026-12-01 00:00 UTC.",
                        "at": TS,
                    }
                ],
                "next_cursor": None,
            },
        ),
        **errors(403, 422),
    },
)
async def list_alerts(gw: GatewayDep, who: OwnerDep, page: PageDep) -> AlertList:
    """Budget alerts (50/80/100 % of a monthly budget) and keys expiring within 7 days,
    newest first, one page at a time."""
    data = await gw.keyvault.call(
        "GET", f"/internal/v1/orgs/{seg(who.org_id)}/alerts", params=page.params()
    )
    return AlertList.model_validate(data)


@router.put(
    "/admin/orgs/{org_id}/plan",
    tags=["Platform administration"],
    responses={**ok(200, {**PLAN, "plan": "team"}), **errors(403, 413, 422)},
)
async def set_org_plan(
    org_id: Annotated[
        str, Path(pattern=IDENTIFIER_PATTERN, max_length=IDENTIFIER_MAX, description="The org.")
    ],
    body: PlanChange,
    gw: GatewayDep,
    who: PlatformAdminDep,
) -> Plan:
    """Put an organization on a plan (platform administrators only)."""
    if not is_identifier(org_id):
        raise ProblemError(422, "validation_error", "org_id: not a valid organization id")
    plan = await gw.workspace.call(
        "PUT", f"/internal/v1/orgs/{seg(org_id)}/plan", json={"plan": body.plan}
    )
    return Plan.model_validate(await plan_with_key_count(gw, org_id, plan))
