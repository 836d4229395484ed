"""HTTP translation of the public API (base /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api import executions, health, keys, org, session, workspaces

PREFIX = "/api/v1"


def public_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    for module in (session, org, keys, workspaces, executions, health):
        router.include_router(module.router)
    return router


__all__ = ["PREFIX", "health", "public_router"]
