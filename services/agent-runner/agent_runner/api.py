"""HTTP side of the runner: liveness and readiness (no business routes; `/metrics` comes with
the shared request telemetry in app.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter

from shared.web import health_router as shared_health_router


def health_router(*, checks: Callable[[], Awaitable[dict[str, bool]]]) -> APIRouter:
    """`/healthz` and `/readyz` (from `checks`) of one runner."""
    return shared_health_router(checks)
