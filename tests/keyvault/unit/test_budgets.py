"""The pure rules of budgets and expiry (keyvault.domain.budgets)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from keyvault.domain import InvalidInputError, ProviderKey
from keyvault.domain.budgets import (
    Refusal,
    budget_exceeded_message,
    crossed_thresholds,
    expiring_soon,
    is_expired,
    month_of,
    next_reset,
    to_nanos,
    validate_budget,
    validate_expires_at,
    within_budget,
)

NOW = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)


def key(**extra: object) -> ProviderKey:
    base = ProviderKey(
        id="key_1",
        org_id="org",
        provider="anthropic",
        name="Prod",
        preview="sk-ant-…abcd",
        status="active",
        created_at=NOW,
        created_by="u",
    )
    return replace(base, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1.0, 0.0, 10_000_000.01, float("inf"), float("nan")])
def test_absurd_or_negative_budgets_are_refused(bad: float) -> None:
    with pytest.raises(InvalidInputError, match="budget_usd_monthly"):
        validate_budget(bad)


def test_a_budget_up_to_ten_million_or_none_is_accepted() -> None:
    assert validate_budget(None) is None
    assert validate_budget(10_000_000) == 10_000_000
    assert validate_budget(0.01) == 0.01


def test_expiry_must_be_in_the_future_and_zoned() -> None:
    with pytest.raises(InvalidInputError, match="future"):
        validate_expires_at(NOW - timedelta(seconds=1), now=NOW)
    with pytest.raises(InvalidInputError, match="time zone"):
        validate_expires_at(datetime(2027, 1, 1), now=NOW)
    assert validate_expires_at(NOW + timedelta(days=1), now=NOW) == NOW + timedelta(days=1)


def test_expired_and_expiring_soon() -> None:
    assert is_expired(key(expires_at=NOW), now=NOW)
    assert not is_expired(key(expires_at=NOW + timedelta(seconds=1)), now=NOW)
    assert not is_expired(key(), now=NOW)
    assert expiring_soon(key(expires_at=NOW + timedelta(days=7)), now=NOW)
    assert not expiring_soon(key(expires_at=NOW + timedelta(days=8)), now=NOW)
    assert not expiring_soon(key(expires_at=NOW), now=NOW)


def test_month_and_reset_are_utc_calendar_months() -> None:
    assert month_of(NOW) == "2026-12"
    assert next_reset(NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_reset(datetime(2026, 2, 10, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_headroom_counts_what_is_in_flight() -> None:
    assert within_budget(used_usd=0.9, budget_usd=1.0, estimate_usd=0.1)
    assert not within_budget(used_usd=0.91, budget_usd=1.0, estimate_usd=0.1)
    assert within_budget(used_usd=1e9, budget_usd=None, estimate_usd=5)


def test_thresholds_are_crossed_once() -> None:
    assert crossed_thresholds(before_usd=0, after_usd=0.5, budget_usd=1) == [50]
    assert crossed_thresholds(before_usd=0.5, after_usd=0.6, budget_usd=1) == []
    assert crossed_thresholds(before_usd=0.4, after_usd=1.2, budget_usd=1) == [50, 80, 100]


def test_nanos_round_up() -> None:
    assert to_nanos(0.000000001) == 1
    assert to_nanos(1.0) == 1_000_000_000


def test_the_message_names_the_budget_amount_and_reset() -> None:
    refusal = Refusal(
        scope="workspace", scope_id="ws", name="Team", budget_usd=250, resets_at=next_reset(NOW)
    )
    text = budget_exceeded_message([refusal], "anthropic", "ws")
    assert "workspace 'Team'" in text
    assert "$250.00" in text
    assert "2027-01-01 00:00 UTC" in text
