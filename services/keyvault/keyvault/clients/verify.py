"""Optional key verification: one cheap authenticated model-list call to the provider."""

from __future__ import annotations

import logging

import httpx

from keyvault.domain import KeyRejectedError, ProviderUnreachableError
from shared.contracts import ProviderId
from shared.crypto import SecretValue
from shared.providers import auth_headers
from shared.settings import ProviderEndpointSettings

log = logging.getLogger(__name__)


def _request(base: str, provider: ProviderId, secret: SecretValue) -> tuple[str, dict[str, str]]:
    path = "/v1beta/models" if provider == "google" else "/v1/models"
    return f"{base}{path}", auth_headers(provider, secret)


class HttpKeyVerifier:
    """Calls the provider's model list with the key in a header; base URLs from settings only."""

    def __init__(self, settings: ProviderEndpointSettings, *, timeout_s: float = 10.0) -> None:
        self._settings = settings
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def verify(self, provider: ProviderId, secret: SecretValue) -> None:
        url, headers = _request(self._settings.provider_base_url(provider), provider, secret)
        try:
            response = await self._client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("key verification: %s unreachable (%s)", provider, type(exc).__name__)
            raise ProviderUnreachableError(
                f"could not reach {provider} to verify the key; nothing was stored"
            ) from None
        status = response.status_code
        if status in (400, 401, 403):
            raise KeyRejectedError(
                f"{provider} refused the key (HTTP {status}); nothing was stored"
            )
        if status >= 500 or status in (404, 408):
            raise ProviderUnreachableError(
                f"{provider} answered HTTP {status} while verifying the key; nothing was stored"
            )
        # 2xx, or 429 (authenticated but rate limited): the key is accepted.
