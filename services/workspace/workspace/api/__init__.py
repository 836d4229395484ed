"""HTTP translation of workspace's internal API: routes, health routes, schemas."""

from workspace.api.routes import build_router, health_router, install_domain_errors

__all__ = ["build_router", "health_router", "install_domain_errors"]
