"""Monthly budgets and key expiry: pure rules (validation, months, headroom, messages, alerts).

A budget is a cap in USD per UTC calendar month on a provider key or on a workspace. keyvault
enforces it when it resolves a key: it reserves a conservative estimate of the call's cost
against the month's counter of every budget involved, atomically per counter, and the
execution's result settles the reservation to the actual cost (service/budgets.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from keyvault.domain.errors import InvalidInputError, KeyvaultError
from keyvault.domain.model import ProviderKey
from shared.contracts import ErrorCode, ExecutionResult

BUDGET_MAX_USD = 10_000_000.0
THRESHOLDS: tuple[Literal[50, 80, 100], ...] = (50, 80, 100)
EXPIRY_WARNING = timedelta(days=7)
Scope = Literal["key", "workspace"]


class BudgetExceededError(KeyvaultError):
    """No key of the provider has headroom in its (or its workspace's) monthly budget."""

    status = 409
    code: str = ErrorCode.BUDGET_EXCEEDED.value


class KeyExpiredError(KeyvaultError):
    """Every remaining key of the provider has expired (the runner reports it as
    `provider_auth_failed`, naming the expiry)."""

    status = 409
    code = "key_expired"


def validate_budget(value: float | None) -> float | None:
    """A monthly budget: null (none), or more than 0 and at most 10^7 USD."""
    if value is None:
        return None
    if isinstance(value, bool) or not math.isfinite(value):
        raise InvalidInputError("budget_usd_monthly", "must be a number of US dollars")
    if value <= 0:
        raise InvalidInputError(
            "budget_usd_monthly", "must be more than 0 USD (use null for no budget)"
        )
    if value > BUDGET_MAX_USD:
        raise InvalidInputError(
            "budget_usd_monthly", f"must be at most {BUDGET_MAX_USD:,.0f} USD per month"
        )
    return round(float(value), 6)


def validate_expires_at(value: datetime | None, *, now: datetime) -> datetime | None:
    """An expiry: null (never), or a timezone-aware time in the future."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInputError("expires_at", "must carry a time zone (RFC 3339, e.g. ...Z)")
    if value <= now:
        raise InvalidInputError("expires_at", "must be in the future")
    return value.astimezone(UTC)


def is_expired(key: ProviderKey, *, now: datetime) -> bool:
    """Whether the key's expiry has passed (an expired key is never resolved)."""
    return key.expires_at is not None and key.expires_at <= now


def month_of(at: datetime) -> str:
    """The UTC month of `at`, as YYYY-MM."""
    return at.astimezone(UTC).strftime("%Y-%m")


def next_reset(at: datetime) -> datetime:
    """When the budget month of `at` ends: 00:00 UTC on the first day of the next month."""
    utc = at.astimezone(UTC)
    year, month = (utc.year + 1, 1) if utc.month == 12 else (utc.year, utc.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def counter_id(org_id: str, scope: Scope, scope_id: str, month: str) -> str:
    """The id of the spend counter of one budget scope and month."""
    return f"{org_id}|{scope}|{scope_id}|{month}"


def within_budget(*, used_usd: float, budget_usd: float | None, estimate_usd: float) -> bool:
    """Whether a call estimated at `estimate_usd` fits: used + estimate ≤ budget.

    `used_usd` is the month's settled spend plus what is reserved in flight. The store applies
    the same rule atomically (a conditional increment); this is its pure statement.
    """
    return budget_usd is None or used_usd + estimate_usd <= budget_usd + 1e-9


@dataclass(frozen=True)
class Refusal:
    """Why one budget said no: which budget, its amount, and when it resets."""

    scope: Scope
    scope_id: str
    name: str
    budget_usd: float
    resets_at: datetime


def usd(value: float) -> str:
    """Dollars for people: 2 decimals from $1 (with thousands separators), 4 or 6 below."""
    if value == 0 or abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}" if abs(value) >= 0.0001 else f"${value:.6f}"


def budget_exceeded_message(refusals: list[Refusal], provider: str, workspace_id: str) -> str:
    """The text of `budget_exceeded`: names the budget (key or workspace), amount and reset."""
    parts = []
    for r in refusals:
        what = f"workspace {r.name!r}" if r.scope == "workspace" else f"provider key {r.name!r}"
        parts.append(f"the monthly budget of {what} ({usd(r.budget_usd)})")
    reset = refusals[0].resets_at.strftime("%Y-%m-%d 00:00 UTC") if refusals else ""
    return (
        f"No {provider} key of workspace {workspace_id!r} can be used: "
        f"{' and '.join(parts)} is spent. It resets on {reset}; an OWNER can raise the budget "
        "under Settings."
    )


def key_expired_message(expired: list[ProviderKey], provider: str, workspace_id: str) -> str:
    """The text of an expired key's refusal (reported as `provider_auth_failed`)."""
    named = ", ".join(
        f"{k.name!r} expired {k.expires_at.strftime('%Y-%m-%d %H:%M UTC')}"
        for k in expired
        if k.expires_at is not None
    )
    return (
        f"Every {provider} key of workspace {workspace_id!r} that is left has expired ({named}). "
        "An OWNER can replace the key or extend its expiry under Settings → AI Providers."
    )


def crossed_thresholds(*, before_usd: float, after_usd: float, budget_usd: float) -> list[int]:
    """The alert thresholds (50/80/100 %) that spend passed going from before to after."""
    return [pct for pct in THRESHOLDS if before_usd < budget_usd * pct / 100 <= after_usd + 1e-9]


def reached_thresholds(*, spent_usd: float, budget_usd: float) -> list[int]:
    """Every threshold the month's spend has reached (each alert is raised once anyway)."""
    return [pct for pct in THRESHOLDS if spent_usd + 1e-9 >= budget_usd * pct / 100]


def budget_alert_message(
    *, scope: Scope, name: str, pct: int, spent_usd: float, budget_usd: float, resets_at: datetime
) -> str:
    what = f"Workspace {name!r}" if scope == "workspace" else f"Provider key {name!r}"
    return (
        f"{what} has spent {usd(spent_usd)} of its {usd(budget_usd)} monthly budget "
        f"({pct} %); it resets on {resets_at.strftime('%Y-%m-%d 00:00 UTC')}."
    )


def exhausted_message(refusal: Refusal, *, spent_usd: float) -> str:
    """The 100 % alert raised when a budget first refuses a run this month."""
    what = (
        f"Workspace {refusal.name!r}"
        if refusal.scope == "workspace"
        else f"Provider key {refusal.name!r}"
    )
    return (
        f"{what} has used its {usd(refusal.budget_usd)} monthly budget (100 %): "
        f"{usd(spent_usd)} spent plus the runs in flight leave no room for another run, so "
        f"runs are refused (budget_exceeded) until it resets on "
        f"{refusal.resets_at.strftime('%Y-%m-%d 00:00 UTC')}."
    )


def expiry_alert_message(key: ProviderKey, *, now: datetime) -> str:
    """The text of a key_expiry alert: which key, in how many days, what to do."""
    when = key.expires_at or now
    days = max(0, math.ceil((when - now).total_seconds() / 86400))
    return (
        f"Provider key {key.name!r} expires in {days} day{'s' if days != 1 else ''} "
        f"({when.strftime('%Y-%m-%d %H:%M UTC')}); replace it or extend its expiry "
        "under Settings → AI Providers."
    )


def expiring_soon(key: ProviderKey, *, now: datetime) -> bool:
    """Whether a live key expires within the warning window (7 days) and has not yet."""
    return (
        key.status == "active"
        and key.expires_at is not None
        and now < key.expires_at <= now + EXPIRY_WARNING
    )


NANOS_PER_USD = 1_000_000_000


def to_nanos(usd: float) -> int:
    """USD as integer nano-dollars, rounded up (counters add integers: no float drift)."""
    return math.ceil(round(usd * NANOS_PER_USD, 3))


def from_nanos(nanos: int) -> float:
    return round(nanos / NANOS_PER_USD, 9)


@dataclass(frozen=True)
class Hold:
    """A reservation of an execution's estimated cost against the counters of its budgets."""

    id: str
    org_id: str
    execution_id: str
    key_id: str
    workspace_id: str
    month: str
    estimate_nanos: int
    counters: tuple[str, ...]
    expires_at: datetime


def hold_id(org_id: str, execution_id: str, key_id: str) -> str:
    return f"{org_id}|{execution_id}|{key_id}"


@dataclass(frozen=True)
class Charge:
    """The actual cost of one finished execution, from its result."""

    org_id: str
    execution_id: str
    key_id: str | None
    workspace_id: str
    month: str
    cost_nanos: int
    # False only when this execution's result cannot have been settled before (see
    # `plan_settlement`): the store then skips the look-up of its settled marker.
    may_be_settled: bool = True


@dataclass(frozen=True)
class Delivery:
    """One result as the spend consumer read it: where it sits in its stream (the consumer
    group's partition of the results topic) and whether the runner marked it published
    again (`shared.contracts.REPUBLISHED_HEADER`)."""

    result: ExecutionResult
    stream: str
    offset: int
    republished: bool


@dataclass(frozen=True)
class SettlementPlan:
    settle: list[tuple[ExecutionResult, bool]]  # each result to settle, and may_be_settled
    settled_up_to: dict[str, int]  # each stream's last offset once the batch is settled


def plan_settlement(
    deliveries: Sequence[Delivery], settled_up_to: Mapping[str, int], suspect: Set[str]
) -> SettlementPlan:
    """Which results of a batch to settle, and which of them to look up in the markers.

    A record at or below its stream's settled offset was settled before (the consumer read it
    again after a restart or a rebalance): skipped. Above it, a result can have been settled
    before only if the runner published it again (marked), if its stream has no settled
    offset yet (the first batch, or one written by a version without offsets), or if this
    process's last settlement of the stream failed part-way (`suspect`): those are looked up;
    the rest are new and settle without a read. Offsets are kept only after a batch is
    settled, so a crash in between settles again (counts twice, never loses a cost).
    """
    settle: list[tuple[ExecutionResult, bool]] = []
    top: dict[str, int] = {}
    for d in deliveries:
        top[d.stream] = max(top.get(d.stream, d.offset), d.offset)
        last = settled_up_to.get(d.stream)
        if last is not None and d.offset <= last:
            continue
        settle.append((d.result, d.republished or last is None or d.stream in suspect))
    return SettlementPlan(settle=settle, settled_up_to=top)


@dataclass(frozen=True)
class CounterMove:
    """A counter's settled spend before and after a settlement (for alerts)."""

    counter_id: str
    org_id: str
    scope: Scope
    scope_id: str
    month: str
    spent_before_nanos: int
    spent_after_nanos: int
