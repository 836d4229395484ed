"""Scoped keys from keyvault: one resolution per execution (and per failover), sent in batches.

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

from agent_runner.domain import (
    BudgetExceededError,
    KeyExpiredError,
    KeyUnavailableError,
    NoMoreKeysError,
    NotConfiguredError,
    backoff_s,
)
from shared.batching import GroupCommit
from shared.contracts import ErrorCode, ExecutionRequested, ProviderId
from shared.crypto import SealError, SecretValue, new_recipient, open_sealed, seal_context
from shared.logging import redact

log = logging.getLogger(__name__)

MAX_BATCH = 256  # keyvault's /resolve-batch limit
NO_MORE_KEYS = "no_more_keys"  # keyvault's per-item refusal: every assigned key was skipped
KEY_EXPIRED = "key_expired"  # keyvault's per-item refusal: every key left has expired


@dataclass(frozen=True)
class ResolvedKey:
    key_id: str
    secret: SecretValue


class KeyvaultClient:
    """Asks keyvault for keys scoped to executions; retries while keyvault is down.

    Concurrent `resolve` calls travel together: one `POST /internal/v1/resolve-batch` carries
    whatever asks arrived while the previous call was in flight (`shared.batching`), so at
    hundreds of executions in flight the runner and keyvault pay one HTTP exchange, one store
    read per workspace and one audit write per batch instead of per execution. Each ask still
    has its own fresh X25519 key pair and gets its own answer or refusal.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        retries: int,
        backoff_base: float,
        backoff_max: float,
        max_batch: int = MAX_BATCH,
        in_flight: int = 4,
    ) -> None:
        self._client = client
        self._retries = retries
        self._base = backoff_base
        self._cap = backoff_max
        self._batches: GroupCommit[dict[str, Any], dict[str, Any]] = GroupCommit(
            self._send, max_batch=max_batch, concurrency=in_flight
        )

    async def resolve(
        self,
        request: ExecutionRequested,
        provider: ProviderId,
        skip: Sequence[str] = (),
        *,
        estimate_usd: float | None = None,
    ) -> ResolvedKey:
        private, public = new_recipient()
        answer = await self._batches.submit(
            {
                "org_id": request.org_id,
                "workspace_id": request.workspace_id,
                "provider": provider,
                "execution_id": request.execution_id,
                "public_key": base64.b64encode(public).decode(),
                "skip_key_ids": list(skip),
                "estimate_usd": estimate_usd,
            }
        )
        error = answer.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            detail = redact(str(error.get("detail") or "") if isinstance(error, dict) else "")
            if code == NO_MORE_KEYS:
                raise NoMoreKeysError(detail)
            if code == ErrorCode.PROVIDER_NOT_CONFIGURED:
                raise NotConfiguredError(detail)
            if code == ErrorCode.BUDGET_EXCEEDED:
                raise BudgetExceededError(detail)
            if code == KEY_EXPIRED:
                raise KeyExpiredError(detail)
            raise KeyUnavailableError(f"keyvault refused the key request: {detail or code}")
        try:
            key_id = str(answer["key_id"])
            sealed = base64.b64decode(answer["sealed"], validate=True)
            plain = open_sealed(
                private,
                sealed,
                seal_context(execution_id=request.execution_id, key_id=key_id),
                recipient_public=public,
            )
            return ResolvedKey(key_id=key_id, secret=SecretValue(plain.decode("utf-8")))
        except (KeyError, TypeError, binascii.Error, SealError, UnicodeDecodeError):
            raise KeyUnavailableError("keyvault's sealed key could not be opened") from None

    async def _send(self, asks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One batch call; every ask gets its item, or a `key_unavailable` refusal."""
        last = "no answer"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(backoff_s(attempt, base=self._base, cap=self._cap))
            try:
                response = await self._client.post(
                    "/internal/v1/resolve-batch", json={"items": asks}
                )
            except httpx.HTTPError as exc:
                last = f"keyvault unreachable ({type(exc).__name__})"
                continue
            if response.status_code >= 500:
                last = f"keyvault answered {response.status_code}"
                continue
            body = _json(response)
            items = body.get("items")
            if response.status_code == 200 and isinstance(items, list) and len(items) == len(asks):
                return [i if isinstance(i, dict) else {} for i in items]
            detail = redact(str(body.get("detail") or f"HTTP {response.status_code}"))
            return [_refusal(f"keyvault refused the key request: {detail}")] * len(asks)
        return [_refusal(f"no key could be obtained from keyvault: {last}")] * len(asks)

    async def close(self) -> None:
        await self._batches.close()


def _refusal(detail: str) -> dict[str, Any]:
    return {"error": {"status": 503, "code": ErrorCode.KEY_UNAVAILABLE.value, "detail": detail}}


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
