"""Error classification, Retry-After parsing and backoff bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from agent_runner.domain import backoff_s, classify, parse_retry_after


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


def test_backoff_is_bounded() -> None:
    for retry in range(1, 20):
        assert 0 <= backoff_s(retry, base=0.2, cap=2.0) <= 2.0
