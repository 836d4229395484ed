"""One execution: model → provider → scoped key → provider call, with failover and retries.

Every failure becomes a result (`shared.contracts.ErrorCode`); only infrastructure errors of
the runner itself (Kafka, MongoDB) escape as exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from agent_runner import domain
from agent_runner.keys import (
    KeyUnavailableError,
    KeyvaultClient,
    NoMoreKeysError,
    NotConfiguredError,
)
from agent_runner.metrics import RunnerMetrics
from agent_runner.providers import PROVIDERS, call
from agent_runner.settings import RunnerSettings
from shared.catalog import Price, cost_usd, find_model
from shared.contracts import ErrorCode, ExecutionRequested, ExecutionResult
from shared.http import DirectClient
from shared.logging import registered_secret

log = logging.getLogger(__name__)


class Executor:
    def __init__(
        self,
        settings: RunnerSettings,
        *,
        http: DirectClient,
        keyvault: KeyvaultClient,
        prices: dict[str, Price],
        metrics: RunnerMetrics,
    ) -> None:
        self._settings = settings
        self._http = http
        self._keyvault = keyvault
        self._prices = prices
        self._metrics = metrics

    async def execute(
        self,
        request: ExecutionRequested,
        *,
        proceed: Callable[[], Awaitable[bool]] | None = None,
    ) -> ExecutionResult | None:
        """Run one execution to its result (succeeded or failed); never raises for providers.

        `proceed`, if given, is asked once the key is at hand and before the first provider
        call; False means "do not call the provider" and the execution returns None. The
        consumer passes its dedupe claim this way, so the claim and the key request overlap.
        """
        started = time.monotonic()
        s = self._settings
        attempts = 0

        def elapsed_ms() -> int:
            return int((time.monotonic() - started) * 1000)

        entry = find_model(request.model)
        if entry is None:
            return domain.failed(
                request,
                code=ErrorCode.MODEL_UNKNOWN,
                message=domain.model_unknown_message(request.model),
                provider=None,
                key_id=None,
                attempts=0,
                duration_ms=elapsed_ms(),
            )
        provider_id = entry.provider
        provider = PROVIDERS[provider_id]
        base = s.provider_base_url(provider_id)
        skip: list[str] = []
        key_id: str | None = None
        rate_waited = 0.0

        def fail(code: ErrorCode, message: str) -> ExecutionResult:
            return domain.failed(
                request,
                code=code,
                message=message,
                provider=provider_id,
                key_id=key_id,
                attempts=attempts,
                duration_ms=elapsed_ms(),
            )

        while True:  # one round per key (failover on 401/403)
            try:
                resolved = await self._keyvault.resolve(request, provider_id, skip)
            except NotConfiguredError as exc:
                return fail(ErrorCode.PROVIDER_NOT_CONFIGURED, str(exc))
            except NoMoreKeysError:
                return fail(
                    ErrorCode.PROVIDER_AUTH_FAILED,
                    domain.auth_failed_message(provider_id, request.workspace_id, len(skip)),
                )
            except KeyUnavailableError as exc:
                return fail(ErrorCode.KEY_UNAVAILABLE, str(exc))
            key_id = resolved.key_id
            if proceed is not None:
                if not await proceed():
                    return None
                proceed = None
            unavailable_retries = 0
            with registered_secret(resolved.secret.reveal()):
                while True:  # retries with the same key (429, 5xx, timeouts)
                    attempts += 1
                    t0 = time.monotonic()
                    try:
                        reply = await call(
                            self._http,
                            provider,
                            base=base,
                            model=request.model,
                            data=request.input,
                            key=resolved.secret,
                        )
                    except domain.ProviderError as failure:
                        outcome = failure.outcome
                        self._metrics.provider_latency.labels(provider_id, outcome).observe(
                            time.monotonic() - t0
                        )
                        if outcome == "auth":
                            log.info(
                                "provider refused key, failing over",
                                extra={"execution_id": request.execution_id, "key_id": key_id},
                            )
                            break
                        if outcome == "invalid":
                            return fail(ErrorCode.INVALID_REQUEST, failure.message)
                        if outcome == "rate_limited":
                            wait = failure.retry_after_s
                            if wait is None:
                                wait = s.runner_rate_limit_default_wait_s
                            if rate_waited + wait > s.runner_rate_limit_max_wait_s:
                                return fail(
                                    ErrorCode.PROVIDER_RATE_LIMITED,
                                    domain.rate_limited_message(provider_id, rate_waited),
                                )
                            rate_waited += wait
                            await asyncio.sleep(wait)
                            continue
                        unavailable_retries += 1
                        if unavailable_retries > s.runner_unavailable_retries:
                            return fail(
                                ErrorCode.PROVIDER_UNAVAILABLE,
                                domain.unavailable_message(provider_id, attempts, failure.message),
                            )
                        await asyncio.sleep(
                            domain.backoff_s(
                                unavailable_retries,
                                base=s.runner_backoff_base_s,
                                cap=s.runner_backoff_max_s,
                            )
                        )
                        continue
                    self._metrics.provider_latency.labels(provider_id, "ok").observe(
                        time.monotonic() - t0
                    )
                    return domain.succeeded(
                        request,
                        provider=provider_id,
                        key_id=resolved.key_id,
                        reply=reply,
                        cost_usd=cost_usd(
                            self._prices, request.model, reply.input_tokens, reply.output_tokens
                        ),
                        attempts=attempts,
                        duration_ms=elapsed_ms(),
                    )
            skip.append(resolved.key_id)
            if len(skip) > s.runner_max_key_failovers:
                return fail(
                    ErrorCode.PROVIDER_AUTH_FAILED,
                    domain.auth_failed_message(provider_id, request.workspace_id, len(skip)),
                )
