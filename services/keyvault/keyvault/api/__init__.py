"""HTTP translation of keyvault's internal API: routes, health routes, schemas."""

from keyvault.api.routes import create_router

__all__ = ["create_router"]
