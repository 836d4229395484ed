"""Pure rules of the workspace service: names, ids, calendar months, usage sums."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from workspace.domain.errors import InvalidInputError
from workspace.domain.model import DailyUsage, UsageFact

MAX_NAME = 64
MAX_ASSIGNED = 100


def clean_name(name: str) -> str:
    """A workspace name trimmed; 1–64 characters, else InvalidInputError."""
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= MAX_NAME:
        raise InvalidInputError(f"name: must be 1–{MAX_NAME} characters")
    return cleaned


def new_workspace_id() -> str:
    return f"ws-{uuid.uuid4().hex}"


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s UTC calendar month."""
    now = now.astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass
class UsageSum:
    """Executions, tokens and cost added up; cost stays null when nothing had a price."""

    executions: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    priced: int = 0
    groups: set[str] = field(default_factory=set)

    def add(self, fact: UsageFact) -> None:
        self.executions += 1
        self.input_tokens += fact.input_tokens
        self.output_tokens += fact.output_tokens
        if fact.cost_usd is not None:
            self.cost += fact.cost_usd
            self.priced += 1

    def add_daily(self, row: DailyUsage) -> None:
        """Add a daily rollup: what its executions would have added one by one."""
        self.executions += row.executions
        self.input_tokens += row.input_tokens
        self.output_tokens += row.output_tokens
        self.cost += row.cost_usd
        self.priced += row.priced

    @property
    def cost_usd(self) -> float | None:
        # Null only when nothing counted had a price: cost is never invented.
        if self.executions and not self.priced:
            return None
        return round(self.cost, 9)


def midnight(day: date) -> datetime:
    """The first instant of a UTC day."""
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True)
class UsageWindow:
    """[since, until) split into whole UTC days (answered by the daily rollups: days in
    [first_day, end_day), either end open when None) and the parts of a day at either end
    (answered by the records of those few hours)."""

    whole_days: tuple[date | None, date | None] | None
    partial: tuple[tuple[datetime | None, datetime | None], ...]


def split_window(since: datetime | None, until: datetime | None) -> UsageWindow:
    """Split [since, until) (UTC, either end open) into whole days and partial days."""
    first = None if since is None else since.date()
    if since is not None and since != midnight(since.date()):
        first = since.date() + timedelta(days=1)  # the first whole day after `since`
    end = None if until is None else until.date()  # `until`'s own day is partial or empty
    if first is not None and end is not None and first >= end:
        return UsageWindow(whole_days=None, partial=((since, until),))
    partial: list[tuple[datetime | None, datetime | None]] = []
    if since is not None and first is not None and since < midnight(first):
        partial.append((since, midnight(first)))
    if until is not None and end is not None and until > midnight(end):
        partial.append((midnight(end), until))
    return UsageWindow(whole_days=(first, end), partial=tuple(partial))
