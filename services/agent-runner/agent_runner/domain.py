"""The runner's rules (no I/O): error classification, the retry and failover decisions,
the ports the service uses, and how results are built."""

from __future__ import annotations

import contextvars
import email.utils
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from shared.catalog import Price
from shared.contracts import (
    ErrorCode,
    ExecutionError,
    ExecutionOutput,
    ExecutionRequested,
    ExecutionResult,
    ExecutionUsage,
    ProviderId,
)

Outcome = Literal["auth", "rate_limited", "unavailable", "invalid"]

RETRYABLE: frozenset[ErrorCode] = frozenset(
    {ErrorCode.PROVIDER_RATE_LIMITED, ErrorCode.PROVIDER_UNAVAILABLE, ErrorCode.KEY_UNAVAILABLE}
)


# ---------------------------------------------------------------- provider answers


@dataclass(frozen=True)
class ProviderReply:
    """What a provider answered, reduced to what the result carries."""

    text: str
    finish_reason: str | None
    input_tokens: int
    output_tokens: int


class ProviderError(Exception):
    """A provider call that did not succeed: an HTTP error status or no answer at all."""

    def __init__(
        self, status: int | None, message: str, *, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s

    @property
    def outcome(self) -> Outcome:
        return classify(self.status)


class BadReplyError(Exception):
    """The provider answered 200 with a body the runner cannot read (wrong JSON shape).

    `what` names the field and what was wrong with it, never its value (no body excerpt).
    Not retried: the call may already be billed, and the same body would come back.
    """

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def classify(status: int | None) -> Outcome:
    """Map an HTTP status (None: timeout or connection error) to what the runner does next."""
    if status is None or status >= 500:
        return "unavailable"
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    if status in (408, 409):  # request timeout / conflict: transient on every provider
        return "unavailable"
    return "invalid"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), if valid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN guard


# ---------------------------------------------------------------- retry and failover


def backoff_s(retry: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter for the `retry`-th retry (1-based)."""
    uniform = random.uniform if rng is None else rng.uniform
    return float(uniform(0, min(cap, base * (2 ** max(0, retry - 1)))))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long the runner keeps at one execution (from the runner's settings)."""

    unavailable_retries: int
    backoff_base_s: float
    backoff_max_s: float
    rate_limit_max_wait_s: float
    rate_limit_default_wait_s: float
    max_key_failovers: int


@dataclass(frozen=True, slots=True)
class Retry:
    """Call again with the same key after `wait_s` seconds."""

    wait_s: float


@dataclass(frozen=True, slots=True)
class FailOver:
    """The provider refused the key: ask keyvault for the next one."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The execution fails with this error."""

    code: ErrorCode
    message: str


FAIL_OVER = FailOver()
Decision = Retry | FailOver | GiveUp


def after_failure(
    failure: ProviderError,
    *,
    provider: str,
    attempts: int,
    unavailable_retries: int,
    rate_waited_s: float,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> Decision:
    """What to do after a failed provider call.

    `attempts`: calls made so far for the execution (this one included);
    `unavailable_retries`: retries already made with this key after a 5xx/timeout;
    `rate_waited_s`: time already spent honouring Retry-After for the execution.
    """
    outcome = failure.outcome
    if outcome == "auth":
        return FAIL_OVER
    if outcome == "invalid":
        return GiveUp(ErrorCode.INVALID_REQUEST, failure.message)
    if outcome == "rate_limited":
        wait = failure.retry_after_s
        if wait is None:
            wait = policy.rate_limit_default_wait_s
        if rate_waited_s + wait > policy.rate_limit_max_wait_s:
            return GiveUp(
                ErrorCode.PROVIDER_RATE_LIMITED, rate_limited_message(provider, rate_waited_s)
            )
        return Retry(wait)
    retry = unavailable_retries + 1
    if retry > policy.unavailable_retries:
        return GiveUp(
            ErrorCode.PROVIDER_UNAVAILABLE,
            unavailable_message(provider, attempts, failure.message),
        )
    return Retry(backoff_s(retry, base=policy.backoff_base_s, cap=policy.backoff_max_s, rng=rng))


def may_fail_over(keys_refused: int, *, policy: RetryPolicy) -> bool:
    """Whether another key may be tried once `keys_refused` keys were refused."""
    return keys_refused <= policy.max_key_failovers


@dataclass(frozen=True, slots=True)
class InfraRetryPolicy:
    """How often a request is retried after an infrastructure error of the runner itself
    (dedupe store, result publishing) before it goes to the dead-letter topic.

    `at_least_s` (RUNNER_KEY_WAIT_S) lines this up with the key wait: a request is never
    dead-lettered sooner than that after it was picked up, even with its retries used up, so
    an outage of the runner's own store shorter than the key wait never reaches the DLQ."""

    retries: int
    backoff_base_s: float
    backoff_max_s: float
    at_least_s: float = 0.0


def infra_retry_wait_s(
    failures: int,
    *,
    policy: InfraRetryPolicy,
    waited_s: float = 0.0,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to wait before retrying a request that failed `failures` times (1-based) on
    infrastructure, `waited_s` after it was picked up, or None: retries are used up (and
    `policy.at_least_s` has passed) and the request goes to the DLQ.

    Capped exponential backoff with half jitter: the n-th retry waits between half and all of
    min(max, base * 2**(n-1)), so the total time spent is bounded by the settings.
    """
    if failures > policy.retries:
        left = policy.at_least_s - waited_s
        if left <= 0:
            return None
        return float(min(left, max(policy.backoff_max_s, 0.05)))
    ceiling = min(policy.backoff_max_s, policy.backoff_base_s * (2 ** max(0, failures - 1)))
    uniform = random.uniform if rng is None else rng.uniform
    return float(uniform(ceiling / 2, ceiling))


# When the runner first picked the current request up (`time.monotonic()`), set by the
# consumer for each request's task: the key wait (RUNNER_KEY_WAIT_S) counts from there, across
# the consumer's retries of the whole request.
picked_up_at: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "picked_up_at", default=None
)


def key_wait_left_s(*, picked_up: float, now: float, wait_s: float) -> float:
    """Seconds left of the key wait of a request picked up at `picked_up` (≤ 0: over)."""
    return picked_up + wait_s - now


def key_wait_backoff_s(attempt: int, *, base: float, cap: float, left_s: float) -> float:
    """The pause before the `attempt`-th new key request while keyvault is down: capped
    exponential backoff, never past the deadline."""
    return max(0.0, min(left_s, max(0.05, backoff_s(attempt, base=base, cap=cap))))


def key_wait_expired_message(wait_s: float, last: str) -> str:
    """The failure once keyvault stayed unavailable for the whole key wait."""
    return (
        f"no key could be obtained from keyvault within {wait_s:g} s (RUNNER_KEY_WAIT_S); "
        f"last: {last}"
    )[:1000]


def infra_dead_letter_reason(failures: int, last_error: str) -> str:
    """The `x-error` of a request dead-lettered after infrastructure errors (already scrubbed
    `last_error`: exception type and message)."""
    return f"infrastructure error, gave up after {failures} tries: {last_error}"[:1000]


# ---------------------------------------------------------------- ports and their errors


class NotConfiguredError(Exception):
    """No key of the provider is assigned to the workspace (keyvault's message)."""


class NoMoreKeysError(Exception):
    """Every assigned key of the provider was already tried."""


class KeyUnavailableError(Exception):
    """keyvault could not give a key (unreachable, 5xx, refused the runner, bad reply)."""


class BudgetExceededError(Exception):
    """keyvault found no key with headroom in its (or its workspace's) monthly budget."""


class KeyExpiredError(Exception):
    """Every remaining key of the provider has expired (reported as provider_auth_failed)."""


MESSAGE_OVERHEAD_TOKENS = 16


def estimate_cost_usd(request: ExecutionRequested, price: Price | None) -> float | None:
    """A conservative upper bound of one call's cost, held against budgets before the call.

    Input: every UTF-8 byte of the prompt counted as a token (byte-level tokenizers never make
    more tokens than bytes) plus a fixed overhead per message; output: all of `max_tokens`.
    None when the model has no price (its cost is null and counts against no budget).
    """
    if price is None:
        return None
    data = request.input
    input_tokens = len((data.system or "").encode()) + sum(
        len(m.content.encode()) + MESSAGE_OVERHEAD_TOKENS for m in data.messages
    )
    total = input_tokens * price.input_per_mtok + data.max_tokens * price.output_per_mtok
    return round(total / 1e6, 9)


class DedupeStore(Protocol):
    """Finished executions, so a redelivered request republishes instead of re-executing."""

    async def open(self) -> None:
        """Check the store answers and prepare it (collections, indexes)."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers now."""
        ...

    async def close(self) -> None: ...

    async def claim(self, *, org_id: str, execution_id: str) -> ExecutionResult | None:
        """Claim the org's `execution_id`: None if it is new (now claimed), else its stored
        result. Execution ids are scoped by org: another org's use of the id is not seen.
        A claim another live runner holds is waited for (its result, or its lease expiring)."""
        ...

    def release(self, *, org_id: str, execution_id: str) -> None:
        """This runner stops working on the execution (stored or failed): stop renewing its
        claim's lease. `put` releases too."""
        ...

    async def put(self, *, result: ExecutionResult) -> ExecutionResult:
        """Record `result` unless one is already recorded; returns the recorded one."""
        ...


class ResultPublisher(Protocol):
    """Where a result goes once recorded (the `execution.result` topic)."""

    async def publish(self, result: ExecutionResult, *, again: bool = False) -> None:
        """Publish `result`; `again`: it was published before (marked for consumers)."""
        ...


# ---------------------------------------------------------------- results


def _result(request: ExecutionRequested, **outcome: Any) -> ExecutionResult:
    """A result carrying the request's identity (ids, model) and the given outcome fields."""
    return ExecutionResult(
        execution_id=request.execution_id,
        org_id=request.org_id,
        workspace_id=request.workspace_id,
        workflow_id=request.workflow_id,
        node_id=request.node_id,
        model=request.model,
        **outcome,
    )


def succeeded(
    request: ExecutionRequested,
    *,
    provider: ProviderId,
    key_id: str,
    reply: ProviderReply,
    cost_usd: float | None,
    attempts: int,
    duration_ms: int,
) -> ExecutionResult:
    """The result of an execution the provider answered."""
    return _result(
        request,
        status="succeeded",
        provider=provider,
        key_id=key_id,
        output=ExecutionOutput(text=reply.text, finish_reason=reply.finish_reason),
        usage=ExecutionUsage(
            input_tokens=reply.input_tokens, output_tokens=reply.output_tokens, cost_usd=cost_usd
        ),
        attempts=attempts,
        duration_ms=duration_ms,
    )


def failed(
    request: ExecutionRequested,
    *,
    code: ErrorCode,
    message: str,
    provider: ProviderId | None,
    key_id: str | None,
    attempts: int,
    duration_ms: int,
) -> ExecutionResult:
    """The result of an execution that failed; the message must already be scrubbed."""
    return _result(
        request,
        status="failed",
        provider=provider,
        key_id=key_id,
        error=ExecutionError(code=code, message=message, retryable=code in RETRYABLE),
        attempts=attempts,
        duration_ms=duration_ms,
    )


TRUNCATED = "truncated"


def truncation_marker(limit_bytes: int) -> str:
    """Appended to an output cut to fit the result topic's message limit."""
    return (
        f"\n[output truncated by the runner: the result exceeded {limit_bytes} bytes, "
        "the largest message the result topic takes]"
    )


def fit_result(result: ExecutionResult, *, max_bytes: int) -> ExecutionResult:
    """`result`, or, when its JSON exceeds `max_bytes`, the same result with the output text
    cut to fit, ending with `truncation_marker`, and `finish_reason` "truncated".

    The cut never splits a character and keeps as much of the text as fits; a result that does
    not fit even with an empty text (no output to cut) is returned unchanged.
    """
    output = result.output
    if output is None or _json_size(result) <= max_bytes:
        return result
    marker = truncation_marker(max_bytes)

    def cut(keep: int) -> ExecutionResult:
        text = output.text[:keep] + marker
        return result.model_copy(
            update={"output": ExecutionOutput(text=text, finish_reason=TRUNCATED)}
        )

    if _json_size(cut(0)) > max_bytes:
        return result
    low, high = 0, len(output.text)  # cut(low) fits; find the longest prefix that fits
    while low < high:
        middle = (low + high + 1) // 2
        if _json_size(cut(middle)) <= max_bytes:
            low = middle
        else:
            high = middle - 1
    return cut(low)


def _json_size(result: ExecutionResult) -> int:
    return len(result.model_dump_json().encode())


def bad_response_message(provider: str, what: str) -> str:
    return (
        f"The {provider} provider answered with a reply the runner cannot read ({what}); "
        "it was not called again, as the call may already have been billed."
    )


def internal_error_message(exc: BaseException) -> str:
    """Names the exception type only: its text may quote a provider body or a secret."""
    return (
        f"The runner failed unexpectedly ({type(exc).__name__}) while executing; the "
        "execution was not retried. Report the execution id to the operators."
    )


def model_unknown_message(model: str) -> str:
    return (
        f"Model {model!r} is not in the catalog; choose one of the models listed for the "
        "workspace (GET /workspaces/{id}/models)."
    )


def auth_failed_message(provider: str, workspace_id: str, tried: int) -> str:
    return (
        f"The {provider} provider refused every key assigned to workspace {workspace_id!r} "
        f"({tried} tried); replace or re-verify the keys under Settings → AI Providers."
    )


def rate_limited_message(provider: str, waited_s: float) -> str:
    return (
        f"The {provider} provider kept rate-limiting the request (waited {waited_s:.1f} s); "
        "try again later or assign another key."
    )


def unavailable_message(provider: str, tries: int, last: str) -> str:
    return f"The {provider} provider did not answer successfully after {tries} tries ({last})."
