"""Scoped keys from keyvault: one resolution per execution (and per failover), sent in batches.

A fresh X25519 key pair per request; keyvault seals the provider key to its public half and
the runner opens it with `open_sealed` and the (execution, key id) context. The plaintext
lives only in a `SecretValue` for the duration of the execution. There is deliberately no
key cache: every execution asks keyvault, so an unassignment or deletion takes effect on the
very next execution and every use is audited.

While keyvault cannot answer — unreachable, a 5xx (a 503 `not_ready` while its read models
catch up included), or a per-item `store_unavailable`/`not_ready` — a resolution waits and asks
again with capped backoff until `RUNNER_KEY_WAIT_S` after the runner picked the request up
(`domain.picked_up_at`); only then does it fail (`key_unavailable`, naming the setting).
keyvault's own answers (not configured, no more keys, a key it cannot decrypt, a 4xx) are
final at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from agent_runner import domain
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
# Per-item refusals that say "keyvault cannot answer now", not "no": waited for.
TRANSIENT_CODES = frozenset({"store_unavailable", "not_ready"})
_TRANSIENT = "_transient"  # marks a refusal this client made because keyvault did not answer


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
        wait_s: float = 0.0,
        wait_backoff_max_s: float = 5.0,
        on_wait: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._retries = retries
        self._base = backoff_base
        self._cap = backoff_max
        self._wait_s = wait_s
        self._wait_cap = wait_backoff_max_s
        self._on_wait = on_wait
        self._clock = clock
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
        ask = {
            "org_id": request.org_id,
            "workspace_id": request.workspace_id,
            "provider": provider,
            "execution_id": request.execution_id,
            "public_key": base64.b64encode(public).decode(),
            "skip_key_ids": list(skip),
            "estimate_usd": estimate_usd,
        }
        picked_up = domain.picked_up_at.get()
        if picked_up is None:
            picked_up = self._clock()
        attempt = 0
        while True:
            answer = await self._batches.submit(ask)
            if not _is_transient(answer):
                break
            left = domain.key_wait_left_s(
                picked_up=picked_up, now=self._clock(), wait_s=self._wait_s
            )
            last = _detail(answer)
            if left <= 0:
                raise KeyUnavailableError(domain.key_wait_expired_message(self._wait_s, last))
            attempt += 1
            if attempt == 1:
                if self._on_wait is not None:
                    self._on_wait()
                log.warning(
                    "keyvault unavailable (%s); waiting up to %.0f s more",
                    last,
                    left,
                    extra={"execution_id": request.execution_id},
                )
            await asyncio.sleep(
                domain.key_wait_backoff_s(attempt, base=self._base, cap=self._wait_cap, left_s=left)
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
                code = _json(response).get("code")
                last = f"keyvault answered {response.status_code}"
                last += f" {redact(str(code))[:60]}" if code else ""
                continue
            body = _json(response)
            items = body.get("items")
            if response.status_code == 200 and isinstance(items, list) and len(items) == len(asks):
                return [i if isinstance(i, dict) else {} for i in items]
            detail = redact(str(body.get("detail") or f"HTTP {response.status_code}"))
            return [_refusal(f"keyvault refused the key request: {detail}")] * len(asks)
        return [_refusal(last, transient=True)] * len(asks)

    async def close(self) -> None:
        await self._batches.close()


def _refusal(detail: str, *, transient: bool = False) -> dict[str, Any]:
    error = {"status": 503, "code": ErrorCode.KEY_UNAVAILABLE.value, "detail": detail}
    return {"error": error, _TRANSIENT: True} if transient else {"error": error}


def _is_transient(answer: dict[str, Any]) -> bool:
    """keyvault could not answer this ask now (down, 5xx, store or read model not ready)."""
    if answer.get(_TRANSIENT):
        return True
    error = answer.get("error")
    return isinstance(error, dict) and error.get("code") in TRANSIENT_CODES


def _detail(answer: dict[str, Any]) -> str:
    error = answer.get("error")
    if not isinstance(error, dict):
        return "no answer"
    return redact(str(error.get("detail") or error.get("code") or "no answer"))[:300]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
