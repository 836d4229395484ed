"""Scoped keys from keyvault: one `POST /internal/v1/resolve` per execution (and per failover).

A fresh X25519 key pair per request; keyvault seals the provider key to its public half and
the runner opens it with `open_sealed` and the (execution, key id) context. The plaintext
lives only in a `SecretValue` for the duration of the execution. There is deliberately no
key cache: every execution asks keyvault, so an unassignment or deletion takes effect on the
very next execution and every use is audited.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from agent_runner.domain import backoff_s
from shared.contracts import ExecutionRequested, ProviderId
from shared.crypto import SealError, SecretValue, new_recipient, open_sealed, seal_context
from shared.logging import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedKey:
    key_id: str
    secret: SecretValue


class NotConfiguredError(Exception):
    """No key of the provider is assigned to the workspace (keyvault's message)."""


class NoMoreKeysError(Exception):
    """Every assigned key of the provider was already tried."""


class KeyUnavailableError(Exception):
    """keyvault could not give a key (unreachable, 5xx, refused the runner, bad reply)."""


class KeyvaultClient:
    """Asks keyvault for a key scoped to one execution; retries while keyvault is down."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        retries: int,
        backoff_base: float,
        backoff_max: float,
    ) -> None:
        self._client = client
        self._retries = retries
        self._base = backoff_base
        self._cap = backoff_max

    async def resolve(
        self, request: ExecutionRequested, provider: ProviderId, skip: Sequence[str] = ()
    ) -> ResolvedKey:
        last = "no answer"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(backoff_s(attempt, base=self._base, cap=self._cap))
            private, public = new_recipient()
            payload = {
                "org_id": request.org_id,
                "workspace_id": request.workspace_id,
                "provider": provider,
                "execution_id": request.execution_id,
                "public_key": base64.b64encode(public).decode(),
                "skip_key_ids": list(skip),
            }
            try:
                response = await self._client.post("/internal/v1/resolve", json=payload)
            except httpx.HTTPError as exc:
                last = f"keyvault unreachable ({type(exc).__name__})"
                continue
            if response.status_code >= 500:
                last = f"keyvault answered {response.status_code}"
                continue
            body = _json(response)
            if response.status_code == 409:
                code = body.get("code")
                detail = redact(str(body.get("detail") or ""))
                if code == "no_more_keys":
                    raise NoMoreKeysError(detail)
                if code == "provider_not_configured":
                    raise NotConfiguredError(detail)
            if response.status_code != 200:
                detail = redact(str(body.get("detail") or f"HTTP {response.status_code}"))
                raise KeyUnavailableError(f"keyvault refused the key request: {detail}")
            try:
                key_id = str(body["key_id"])
                sealed = base64.b64decode(body["sealed"], validate=True)
                plain = open_sealed(
                    private,
                    sealed,
                    seal_context(execution_id=request.execution_id, key_id=key_id),
                )
                return ResolvedKey(key_id=key_id, secret=SecretValue(plain.decode("utf-8")))
            except (KeyError, TypeError, binascii.Error, SealError, UnicodeDecodeError):
                raise KeyUnavailableError("keyvault's sealed key could not be opened") from None
        raise KeyUnavailableError(f"no key could be obtained from keyvault: {last}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
