"""HTTP side of the runner: liveness, readiness and Prometheus metrics (no business routes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent_runner.service import RunnerMetrics


def health_router(
    *,
    checks: Callable[[], Awaitable[dict[str, bool]]],
    metrics: RunnerMetrics,
    in_flight: Callable[[], int],
) -> APIRouter:
    """`/healthz`, `/readyz` (from `checks`) and `/metrics` of one runner."""
    router = APIRouter()

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """200 when consuming and MongoDB answers; else 503."""
        results = await checks()
        ok = all(results.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": results},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus metrics."""
        metrics.in_flight.set(in_flight())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
