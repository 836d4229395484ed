"""Error classification, Retry-After parsing, backoff bounds and the retry/failover decisions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from agent_runner.domain import (
    FAIL_OVER,
    Decision,
    GiveUp,
    ProviderError,
    Retry,
    RetryPolicy,
    after_failure,
    backoff_s,
    classify,
    may_fail_over,
    parse_retry_after,
)
from shared.contracts import ErrorCode

POLICY = RetryPolicy(
    unavailable_retries=2,
    backoff_base_s=0.2,
    backoff_max_s=2.0,
    rate_limit_max_wait_s=10.0,
    rate_limit_default_wait_s=1.0,
    max_key_failovers=3,
)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (401, "auth"),
        (403, "auth"),
        (429, "rate_limited"),
        (500, "unavailable"),
        (503, "unavailable"),
        (529, "unavailable"),
        (None, "unavailable"),
        (400, "invalid"),
        (404, "invalid"),
        (422, "invalid"),
    ],
)
def test_classify(status: int | None, outcome: str) -> None:
    assert classify(status) == outcome


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=3)), now=now) == 3.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=3)), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-4") == 0.0


@pytest.mark.parametrize("seed", [0, 1, 7, 42, 2026])
def test_backoff_is_bounded(seed: int) -> None:
    """Full jitter: within [0, min(cap, base·2^(retry-1))], and it does reach towards both ends."""
    rng = random.Random(seed)
    for retry in range(1, 20):
        bound = min(2.0, 0.2 * 2 ** (retry - 1))
        samples = [backoff_s(retry, base=0.2, cap=2.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= s <= bound for s in samples)
        assert min(samples) < 0.1 * bound  # the lower end is reached: jitter, not a fixed wait
        assert max(samples) > 0.9 * bound  # the upper end grows with the retry, up to the cap
    again = random.Random(seed)
    first = random.Random(seed)
    assert [backoff_s(3, base=0.2, cap=2.0, rng=first) for _ in range(5)] == [
        backoff_s(3, base=0.2, cap=2.0, rng=again) for _ in range(5)
    ]


def test_backoff_without_base_never_waits() -> None:
    assert backoff_s(5, base=0.0, cap=2.0, rng=random.Random(3)) == 0.0


def decide(
    failure: ProviderError, *, attempts: int = 1, retries: int = 0, waited: float = 0.0
) -> Decision:
    return after_failure(
        failure,
        provider="anthropic",
        attempts=attempts,
        unavailable_retries=retries,
        rate_waited_s=waited,
        policy=POLICY,
        rng=random.Random(11),
    )


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_fails_over(status: int) -> None:
    assert decide(ProviderError(status, "no")) is FAIL_OVER


@pytest.mark.parametrize("status", [400, 404, 422])
def test_an_invalid_request_gives_up_with_the_providers_message(status: int) -> None:
    assert decide(ProviderError(status, "bad field")) == GiveUp(
        ErrorCode.INVALID_REQUEST, "bad field"
    )


def test_rate_limited_waits_retry_after_or_the_default_until_the_cap() -> None:
    assert decide(ProviderError(429, "slow", retry_after_s=3.0)) == Retry(3.0)
    assert decide(ProviderError(429, "slow")) == Retry(1.0)
    assert decide(ProviderError(429, "slow", retry_after_s=4.0), waited=6.0) == Retry(4.0)
    over = decide(ProviderError(429, "slow", retry_after_s=4.5), waited=6.0)
    assert isinstance(over, GiveUp)
    assert over.code == ErrorCode.PROVIDER_RATE_LIMITED
    assert "waited 6.0 s" in over.message


@pytest.mark.parametrize("status", [None, 408, 409, 500, 503])
def test_unavailable_retries_with_bounded_backoff_then_gives_up(status: int | None) -> None:
    for retries in range(POLICY.unavailable_retries):
        step = decide(ProviderError(status, "down"), retries=retries)
        assert isinstance(step, Retry)
        assert 0.0 <= step.wait_s <= min(2.0, 0.2 * 2**retries)
    final = decide(ProviderError(status, "down"), attempts=3, retries=POLICY.unavailable_retries)
    assert isinstance(final, GiveUp)
    assert final.code == ErrorCode.PROVIDER_UNAVAILABLE
    assert "after 3 tries (down)" in final.message


def test_failover_stops_past_the_configured_number_of_keys() -> None:
    assert [may_fail_over(n, policy=POLICY) for n in range(1, 6)] == [
        True,
        True,
        True,
        False,
        False,
    ]
