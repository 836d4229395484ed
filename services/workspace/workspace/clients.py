"""Outbound HTTP: keyvault's key lookup (the KeyConfirmer port)."""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

from workspace.domain import KeyInfo, KeyLookupUnavailableError

log = logging.getLogger(__name__)

UNCONFIRMED = "keyvault could not confirm the key; try again"


class HttpKeyConfirmer:
    """Asks keyvault (`GET /internal/v1/orgs/{org}/keys/{key_id}`) with workspace's token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def fetch_key(self, *, org_id: str, key_id: str) -> KeyInfo | None:
        path = f"/internal/v1/orgs/{quote(org_id, safe='')}/keys/{quote(key_id, safe='')}"
        try:
            response = await self.client.get(path)
        except httpx.HTTPError as exc:
            log.warning("keyvault unreachable for key confirmation: %s", type(exc).__name__)
            raise KeyLookupUnavailableError(UNCONFIRMED) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.warning("keyvault answered %s to a key confirmation", response.status_code)
            raise KeyLookupUnavailableError(UNCONFIRMED)
        try:
            body = response.json()
            return KeyInfo(
                key_id=str(body["id"]),
                org_id=str(body["org_id"]),
                provider=str(body["provider"]),
                status="active" if body.get("status", "active") == "active" else "deleted",
                name=str(body["name"]) if body.get("name") is not None else None,
            )
        except (ValueError, KeyError, TypeError):
            raise KeyLookupUnavailableError("keyvault answered an unreadable key record") from None
