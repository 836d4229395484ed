"""HTTP translation of keyvault's internal API: routes, health routes, schemas."""

from keyvault.api.routes import create_router, health, install_domain_errors

__all__ = ["create_router", "health", "install_domain_errors"]
