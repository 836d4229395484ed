"""Liveness and readiness: ready when keyvault, workspace and Kafka answer."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter

from gateway.api.deps import Gateway, GatewayDep
from gateway.openapi import errors, ok
from gateway.schemas import Health
from shared.web import ProblemError

router = APIRouter(tags=["Health"])


@router.get("/healthz", responses=ok(200, {"status": "ok", "checks": {}}))
async def healthz() -> Health:
    """The gateway process is alive."""
    return Health(status="ok")


async def _answers(gw: Gateway, name: str) -> bool:
    upstream = gw.keyvault if name == "keyvault" else gw.workspace
    try:
        response = await upstream.client.get("/readyz", timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def check_dependencies(gw: Gateway) -> dict[str, bool]:
    kv, ws, kafka = await asyncio.gather(
        _answers(gw, "keyvault"), _answers(gw, "workspace"), gw.bus.ready()
    )
    return {"keyvault": kv, "workspace": ws, "kafka": kafka}


@router.get(
    "/readyz",
    responses={
        **ok(
            200, {"status": "ready", "checks": {"keyvault": "ok", "workspace": "ok", "kafka": "ok"}}
        ),
        503: errors()[503],
    },
)
async def readyz(gw: GatewayDep) -> Health:
    """Ready when keyvault, workspace and Kafka all answer; else 503 naming those that do not."""
    checks = await check_dependencies(gw)
    down = [name for name, up in checks.items() if not up]
    if down:
        raise ProblemError(
            503,
            "dependency_unavailable",
            f"{', '.join(down)} unavailable",
            title="Service unavailable",
        )
    return Health(status="ready", checks=dict.fromkeys(checks, "ok"))
