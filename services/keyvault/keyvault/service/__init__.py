"""keyvault's use cases: the Vault (keys, resolution, publishing), what a resolution records,
envelope encryption, and the re-wrap run by `python -m keyvault rewrap`."""

from keyvault.service.rewrap import RewrapReport, format_report, rewrap_all
from keyvault.service.vault import ResolveAsk, Resolved, Vault, new_key_id

__all__ = [
    "ResolveAsk",
    "Resolved",
    "RewrapReport",
    "Vault",
    "format_report",
    "new_key_id",
    "rewrap_all",
]
