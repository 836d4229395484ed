"""HTTP translation of keyvault's internal API: routes, health routes, schemas."""

from keyvault.api.metrics import KeyvaultMetrics
from keyvault.api.routes import create_router

__all__ = ["KeyvaultMetrics", "create_router"]
