"""HTTP translation of the public API (base /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from gateway.api import executions, health, keys, org, session, workspaces

PREFIX = "/api/v1"


def public_router(app: FastAPI) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    for module in (session, org, keys, workspaces, executions):
        router.include_router(module.router)
    router.include_router(health.router(app, documented=True))
    return router


__all__ = ["PREFIX", "health", "public_router"]
