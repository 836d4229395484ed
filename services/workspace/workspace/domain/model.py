"""Domain values: organizations, workspaces, key metadata, ledger records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from shared.contracts import ProviderRouting

GroupBy = Literal["key", "workspace", "model"]
Interval = Literal["day"]
ExecutionStatus = Literal["queued", "succeeded", "failed"]


@dataclass(frozen=True)
class Org:
    org_id: str
    plan: str
    created_at: datetime


@dataclass(frozen=True)
class Workspace:
    id: str
    org_id: str
    name: str
    key_ids: tuple[str, ...]
    created_at: datetime
    version: int = 0
    deleted: bool = False
    budget_usd_monthly: float | None = None
    routing: Mapping[str, ProviderRouting] = field(default_factory=dict)
    max_tokens_cap: int | None = None


@dataclass(frozen=True)
class KeyInfo:
    """Key metadata without secrets, as announced on keyvault.keys.v1."""

    key_id: str
    org_id: str
    provider: str
    status: Literal["active", "deleted"]
    name: str | None = None

    @property
    def live(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution in the ledger; `queued` until its result arrives."""

    execution_id: str
    org_id: str
    workspace_id: str
    status: ExecutionStatus
    model: str
    provider: str | None = None
    key_id: str | None = None
    output_text: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_retryable: bool | None = None
    duration_ms: int | None = None
    attempts: int | None = None
    requested_at: datetime | None = None
    finished_at: datetime | None = None
    output_expires_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status != "queued"

    @property
    def at(self) -> datetime | None:
        """Where it stands in a newest-first list: when it finished, else when requested."""
        return self.finished_at or self.requested_at


@dataclass(frozen=True)
class UsageFact:
    """The countable part of one finished execution."""

    key_id: str | None
    workspace_id: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class DailyUsage:
    """A daily rollup: an org's finished executions of one UTC day with one key, workspace,
    provider and model, added up (`priced` counts those that had a cost)."""

    day: date
    key_id: str | None
    workspace_id: str
    provider: str | None
    model: str
    executions: int
    succeeded: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    priced: int


@dataclass(frozen=True)
class UsageRow:
    group: str | None
    executions: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    day: date | None = None


@dataclass(frozen=True)
class Totals:
    executions: int
    cost_usd: float | None


class CatalogEntry(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def best_for(self) -> str: ...
