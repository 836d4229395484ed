"""Asks workspace (the owner of assignments) when keyvault's read model says no."""

from __future__ import annotations

import logging

import httpx
from pydantic import ValidationError

from keyvault.domain import Assignment
from shared.contracts import ProviderRouting

log = logging.getLogger(__name__)


class HttpWorkspaceDirectory:
    """`GET {WORKSPACE_URL}/internal/v1/orgs/{org}/workspaces/{ws}` with keyvault's token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def close(self) -> None:
        await self._client.aclose()

    async def fetch(self, *, org_id: str, workspace_id: str) -> Assignment | None:
        try:
            response = await self._client.get(
                f"/internal/v1/orgs/{org_id}/workspaces/{workspace_id}"
            )
        except httpx.HTTPError as exc:
            log.warning("workspace confirmation failed: %s", type(exc).__name__)
            return None
        if response.status_code != 200:
            if response.status_code != 404:
                log.warning("workspace confirmation answered HTTP %s", response.status_code)
            return None
        body = response.json()
        try:
            routing = {
                str(provider): ProviderRouting.model_validate(rule)
                for provider, rule in (body.get("routing") or {}).items()
            }
        except ValidationError:
            log.warning("workspace answered an unreadable routing; keys are tried in order")
            routing = {}
        return Assignment(
            workspace_id=str(body.get("id", workspace_id)),
            org_id=str(body.get("org_id", "")),
            key_ids=tuple(str(k) for k in body.get("ai_provider_ids") or ()),
            routing=routing,
        )
