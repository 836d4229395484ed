"""The use case: one execution request in, one result recorded and published out.

`ExecutionHandler.handle` claims the execution in the dedupe store while `Executor` runs it:
model → provider → scoped key (per key, failing over on 401/403) → provider calls (per attempt,
retrying 429, 5xx and timeouts). The decisions between attempts are `domain.after_failure` and
`domain.may_fail_over`. Every failure becomes a result (`shared.contracts.ErrorCode`): a 200
the runner cannot read is `provider_bad_response` after one call, any other unexpected
exception while executing is `internal_error`; only infrastructure errors of the runner itself
(Kafka, MongoDB, including the dedupe claim) escape as exceptions, which the consumer retries
a bounded number of times (`domain.infra_retry_wait_s`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Gauge, Histogram

from agent_runner import domain
from agent_runner.clients.keyvault import KeyvaultClient, ResolvedKey
from agent_runner.clients.providers import PROVIDERS, Provider, call
from agent_runner.domain import (
    BudgetExceededError,
    DedupeStore,
    KeyExpiredError,
    KeyUnavailableError,
    NoMoreKeysError,
    NotConfiguredError,
    ResultPublisher,
)
from agent_runner.settings import RunnerSettings
from shared.catalog import Price, cost_usd, find_model
from shared.contracts import ErrorCode, ExecutionRequested, ExecutionResult, ProviderId
from shared.http import DirectClient
from shared.logging import registered_secret
from shared.metrics import LATENCY_BUCKETS, ConsumerLag, new_registry

log = logging.getLogger(__name__)


class RunnerMetrics:
    """Prometheus metrics of one runner: its own registry (so several runners can share a
    process) with the process/GC collectors. Labels are bounded: `model` is a catalog model
    id or `other`; `provider` one of the three providers or empty."""

    def __init__(self) -> None:
        self.registry = new_registry()
        self.in_flight = Gauge(
            "flowtrux_runner_in_flight",
            "Executions in flight in this process.",
            registry=self.registry,
        )
        self.executions = Counter(
            "flowtrux_runner_executions",
            "Results published, by status, provider, model and error code.",
            ["status", "provider", "model", "code"],
            registry=self.registry,
        )
        self.provider_latency = Histogram(
            "flowtrux_runner_provider_latency_seconds",
            "Latency of provider HTTP calls, by provider and outcome.",
            ["provider", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "flowtrux_runner_tokens",
            "Tokens counted by the providers, by provider, model and direction (input/output).",
            ["provider", "model", "direction"],
            registry=self.registry,
        )
        self.cost = Counter(
            "flowtrux_runner_cost_usd",
            "Cost in USD of succeeded executions (priced models only), by provider and model.",
            ["provider", "model"],
            registry=self.registry,
        )
        self.lag = ConsumerLag(self.registry)
        self.dead_lettered = Counter(
            "flowtrux_runner_dead_lettered",
            "Requests sent to the DLQ.",
            registry=self.registry,
        )
        self.key_waits = Counter(
            "runner_key_waits",
            "Key resolutions that waited for keyvault to answer again (RUNNER_KEY_WAIT_S).",
            registry=self.registry,
        )
        self.redelivered = Counter(
            "flowtrux_runner_redelivered",
            "Requests already finished, republished without executing.",
            registry=self.registry,
        )

    def set_consumer_lag(self, topic: str, lag: int) -> None:
        """Requests not yet committed on the assigned partitions (high-water minus commit)."""
        self.lag.set(topic=topic, consumer="agent-runner", lag=lag)

    def record(self, result: ExecutionResult) -> None:
        """Count one published result: status, tokens and cost by provider and model."""
        model = result.model if find_model(result.model) is not None else "other"
        provider = result.provider or ""
        code = result.error.code.value if result.error else ""
        self.executions.labels(result.status, provider, model, code).inc()
        if result.usage is not None:
            self.tokens.labels(provider, model, "input").inc(result.usage.input_tokens)
            self.tokens.labels(provider, model, "output").inc(result.usage.output_tokens)
            if result.usage.cost_usd is not None:
                self.cost.labels(provider, model).inc(result.usage.cost_usd)


def retry_policy(settings: RunnerSettings) -> domain.RetryPolicy:
    """The retry and failover limits named by the runner's settings."""
    return domain.RetryPolicy(
        unavailable_retries=settings.runner_unavailable_retries,
        backoff_base_s=settings.runner_backoff_base_s,
        backoff_max_s=settings.runner_backoff_max_s,
        rate_limit_max_wait_s=settings.runner_rate_limit_max_wait_s,
        rate_limit_default_wait_s=settings.runner_rate_limit_default_wait_s,
        max_key_failovers=settings.runner_max_key_failovers,
    )


class _Run:
    """The state of one execution across its keys and attempts."""

    __slots__ = ("attempts", "key_id", "provider", "rate_waited_s", "request", "skip", "started")

    def __init__(self, request: ExecutionRequested, provider: ProviderId | None) -> None:
        self.request = request
        self.provider: ProviderId | None = provider
        self.started = time.monotonic()
        self.attempts = 0
        self.key_id: str | None = None
        self.skip: list[str] = []  # keys the provider refused, in order
        self.rate_waited_s = 0.0

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def fail(self, code: ErrorCode, message: str) -> ExecutionResult:
        return domain.failed(
            self.request,
            code=code,
            message=message,
            provider=self.provider,
            key_id=self.key_id,
            attempts=self.attempts,
            duration_ms=self.elapsed_ms(),
        )

    def internal_error(self, exc: Exception) -> ExecutionResult:
        log.error(
            "execution failed unexpectedly",
            exc_info=exc,
            extra={"execution_id": self.request.execution_id},
        )
        return self.fail(ErrorCode.INTERNAL_ERROR, domain.internal_error_message(exc))

    def all_keys_refused(self) -> ExecutionResult:
        message = domain.auth_failed_message(
            str(self.provider), self.request.workspace_id, len(self.skip)
        )
        return self.fail(ErrorCode.PROVIDER_AUTH_FAILED, message)


class _ProceedFailedError(Exception):
    """The handler's `proceed` (the dedupe claim) raised: infrastructure, not the execution."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class Executor:
    """Runs one execution to its result (succeeded or failed); never raises for providers."""

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
        self._policy = retry_policy(settings)
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
        """Run one execution: one round per key until a result.

        `proceed`, if given, is asked once the key is at hand and before the first provider
        call; False means "do not call the provider" and the execution returns None. The
        handler passes its dedupe claim this way, so the claim and the key request overlap.
        An exception of `proceed` (the store's) propagates; any other exception becomes an
        `internal_error` result, so a poison request is never retried.
        """
        run = _Run(request, None)
        try:
            return await self._execute(run, proceed)
        except _ProceedFailedError as failed:
            raise failed.error from None
        except Exception as exc:
            return run.internal_error(exc)

    async def _execute(
        self, run: _Run, proceed: Callable[[], Awaitable[bool]] | None
    ) -> ExecutionResult | None:
        request = run.request
        entry = find_model(request.model)
        if entry is None:
            return run.fail(ErrorCode.MODEL_UNKNOWN, domain.model_unknown_message(request.model))
        run.provider = entry.provider
        provider = PROVIDERS[entry.provider]
        base = self._settings.provider_base_url(entry.provider)
        estimate = domain.estimate_cost_usd(request, self._prices.get(request.model))
        while True:
            try:
                resolved = await self._keyvault.resolve(
                    request, entry.provider, run.skip, estimate_usd=estimate
                )
            except NotConfiguredError as exc:
                return run.fail(ErrorCode.PROVIDER_NOT_CONFIGURED, str(exc))
            except BudgetExceededError as exc:
                return run.fail(ErrorCode.BUDGET_EXCEEDED, str(exc))
            except KeyExpiredError as exc:
                return run.fail(ErrorCode.PROVIDER_AUTH_FAILED, str(exc))
            except NoMoreKeysError:
                return run.all_keys_refused()
            except KeyUnavailableError as exc:
                return run.fail(ErrorCode.KEY_UNAVAILABLE, str(exc))
            run.key_id = resolved.key_id
            if proceed is not None:
                try:
                    go = await proceed()
                except Exception as exc:
                    raise _ProceedFailedError(exc) from exc
                if not go:
                    return None
                proceed = None
            result = await self._with_key(run, provider, base, resolved)
            if result is not None:
                return result
            run.skip.append(resolved.key_id)
            if not domain.may_fail_over(len(run.skip), policy=self._policy):
                return run.all_keys_refused()

    async def _with_key(
        self, run: _Run, provider: Provider, base: str, key: ResolvedKey
    ) -> ExecutionResult | None:
        """Call the provider with one key, one attempt after the other, until a result;
        None when the provider refused the key (fail over to the next one)."""
        request = run.request
        provider_id = provider.id
        unavailable_retries = 0
        with registered_secret(key.secret.reveal()):
            while True:
                run.attempts += 1
                t0 = time.monotonic()
                try:
                    reply = await call(
                        self._http,
                        provider,
                        base=base,
                        model=request.model,
                        data=request.input,
                        key=key.secret,
                    )
                except domain.BadReplyError as bad:
                    self._metrics.provider_latency.labels(provider_id, "bad_response").observe(
                        time.monotonic() - t0
                    )
                    return run.fail(
                        ErrorCode.PROVIDER_BAD_RESPONSE,
                        domain.bad_response_message(provider_id, bad.what),
                    )
                except domain.ProviderError as failure:
                    outcome = failure.outcome
                    self._metrics.provider_latency.labels(provider_id, outcome).observe(
                        time.monotonic() - t0
                    )
                    step = domain.after_failure(
                        failure,
                        provider=provider_id,
                        attempts=run.attempts,
                        unavailable_retries=unavailable_retries,
                        rate_waited_s=run.rate_waited_s,
                        policy=self._policy,
                    )
                    if isinstance(step, domain.GiveUp):
                        return run.fail(step.code, step.message)
                    if isinstance(step, domain.FailOver):
                        log.info(
                            "provider refused key, failing over",
                            extra={"execution_id": request.execution_id, "key_id": key.key_id},
                        )
                        return None
                    if outcome == "rate_limited":
                        run.rate_waited_s += step.wait_s
                    else:
                        unavailable_retries += 1
                    await asyncio.sleep(step.wait_s)
                    continue
                self._metrics.provider_latency.labels(provider_id, "ok").observe(
                    time.monotonic() - t0
                )
                result = domain.succeeded(
                    request,
                    provider=provider_id,
                    key_id=key.key_id,
                    reply=reply,
                    cost_usd=cost_usd(
                        self._prices, request.model, reply.input_tokens, reply.output_tokens
                    ),
                    attempts=run.attempts,
                    duration_ms=run.elapsed_ms(),
                )
                return domain.fit_result(result, max_bytes=self._settings.runner_max_result_bytes)


class ExecutionHandler:
    """One request: claim it, execute it if new, record the result, publish it.

    A redelivered request (claimed before, result recorded) republishes the recorded result
    and calls no provider. Infrastructure errors (store, publisher) propagate; the caller
    retries the whole request a bounded number of times, then dead-letters it.
    """

    def __init__(
        self,
        *,
        executor: Executor,
        store: DedupeStore,
        publisher: ResultPublisher,
        metrics: RunnerMetrics,
    ) -> None:
        self._executor = executor
        self._store = store
        self._publisher = publisher
        self._metrics = metrics

    async def handle(self, request: ExecutionRequested) -> None:
        # The dedupe claim and the key request run side by side; the provider is called only
        # once the claim shows this execution is new (see store.py). A redelivery thus costs
        # one audited key resolution that is never used, and no provider call.
        claim = asyncio.ensure_future(
            self._store.claim(org_id=request.org_id, execution_id=request.execution_id)
        )

        async def is_new() -> bool:
            return await asyncio.shield(claim) is None

        try:
            await self._handle(request, claim, is_new)
        finally:
            # Stored, republished or failed: this runner no longer renews the claim's lease.
            self._store.release(org_id=request.org_id, execution_id=request.execution_id)

    async def _handle(
        self,
        request: ExecutionRequested,
        claim: asyncio.Future[ExecutionResult | None],
        is_new: Callable[[], Awaitable[bool]],
    ) -> None:
        try:
            result = await self._executor.execute(request, proceed=is_new)
        except BaseException:
            claim.cancel()  # stops waiting only; a claim already sent is still written
            raise
        existing = await claim  # a store error fails this attempt; it is retried whole
        if existing is not None:
            self._metrics.redelivered.inc()
            await self._publisher.publish(existing, again=True)
            return
        if result is None:  # the claim said new, so the executor never declines
            raise RuntimeError("execution declined without a stored result")
        recorded = await self._store.put(result=result)
        # Another runner's result recorded first was published by that runner too.
        await self._publisher.publish(recorded, again=recorded.event_id != result.event_id)
        self._metrics.record(recorded)
