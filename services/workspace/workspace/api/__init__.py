"""HTTP translation of workspace's internal API: routes, health routes, schemas."""

from workspace.api.routes import build_router

__all__ = ["build_router"]
