"""Liveness and readiness: ready when keyvault, workspace and Kafka answer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
from fastapi import APIRouter, FastAPI

from gateway.api.openapi import errors, ok
from gateway.service import Gateway
from shared.web import health_router


async def _answers(upstream_client: httpx.AsyncClient) -> bool:
    try:
        response = await upstream_client.get("/readyz", timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def check_dependencies(gw: Gateway) -> dict[str, bool]:
    kv, ws, kafka = await asyncio.gather(
        _answers(gw.keyvault.client), _answers(gw.workspace.client), gw.bus.ready()
    )
    return {"keyvault": kv, "workspace": ws, "kafka": kafka}


def router(app: FastAPI, *, documented: bool) -> APIRouter:
    """`/healthz` and `/readyz` (the shared shape), checking this app's dependencies."""

    async def checks() -> Mapping[str, bool]:
        gw: Gateway = app.state.gateway
        return await check_dependencies(gw)

    ready = {"status": "ready", "checks": {"keyvault": "ok", "workspace": "ok", "kafka": "ok"}}
    return health_router(
        checks,
        tags=["Health"],
        include_in_schema=documented,
        responses={**ok(200, ready), 503: errors()[503]},
    )
