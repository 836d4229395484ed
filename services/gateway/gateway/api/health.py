"""Liveness and readiness of the gateway itself.

Ready means this process can serve its own routes (started, its clients built). An upstream
that is down (keyvault, workspace, Kafka) does NOT make the gateway unready: the routes that
need it answer 503 `dependency_unavailable` (problem+json) naming it, and the others (the UI,
the documents, routes of the other upstream) keep working. Taking every replica out of the
load balancer because keyvault restarts would turn that 503 into connection errors.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, FastAPI

from gateway.api.openapi import errors, ok
from shared.web import health_router


def router(app: FastAPI, *, documented: bool) -> APIRouter:
    """`/healthz` and `/readyz` (the shared shape): ready once the app has started."""

    async def checks() -> Mapping[str, bool]:
        return {"started": getattr(app.state, "gateway", None) is not None}

    ready = {"status": "ready", "checks": {"started": "ok"}}
    return health_router(
        checks,
        tags=["Health"],
        include_in_schema=documented,
        responses={**ok(200, ready), 503: errors()[503]},
    )
