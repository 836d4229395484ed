"""How each provider takes its API key: the auth headers, defined once for every caller.

The key always travels in a header, never in the URL. Used by the runner's provider calls
and by keyvault's key verification.
"""

from __future__ import annotations

from shared.contracts import ProviderId
from shared.crypto import SecretValue

ANTHROPIC_VERSION = "2023-06-01"


def auth_headers(provider: ProviderId, key: SecretValue) -> dict[str, str]:
    """The headers that authenticate a call to `provider` with `key` (a fresh dict)."""
    if provider == "anthropic":
        return {"x-api-key": key.reveal(), "anthropic-version": ANTHROPIC_VERSION}
    if provider == "openai":
        return {"Authorization": f"Bearer {key.reveal()}"}
    return {"x-goog-api-key": key.reveal()}
