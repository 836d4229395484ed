"""HTTP side of the runner: liveness, readiness and Prometheus metrics (no business routes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent_runner.service import RunnerMetrics
from shared.web import health_router as shared_health_router


def health_router(
    *,
    checks: Callable[[], Awaitable[dict[str, bool]]],
    metrics: RunnerMetrics,
    in_flight: Callable[[], int],
) -> APIRouter:
    """`/healthz`, `/readyz` (from `checks`) and `/metrics` of one runner."""
    router = shared_health_router(checks)

    @router.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus metrics."""
        metrics.in_flight.set(in_flight())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
