"""What the domain needs from the outside: stores, the keyvault confirmation, a publisher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime
from typing import Protocol

from shared.contracts import OrgPlanChanged, ProviderRouting, WorkspaceAssignmentsChanged
from workspace.domain.model import (
    CatalogEntry,
    DailyUsage,
    ExecutionRecord,
    KeyInfo,
    Org,
    UsageFact,
    Workspace,
)
from workspace.domain.run_bounds import IdempotencyClaim


class WorkspaceStore(Protocol):
    """Organizations and workspaces; every write is one single-document atomic operation."""

    async def get_org(self, *, org_id: str) -> Org | None: ...
    async def create_org_if_missing(self, *, org_id: str, plan: str, now: datetime) -> bool: ...
    async def set_plan(self, *, org_id: str, plan: str) -> bool: ...
    async def acquire_slot(self, *, org_id: str, limit: int | None, workspace_id: str) -> bool:
        """Take one of the org's `limit` workspace slots; False when all are taken."""
        ...

    async def release_slot(self, *, org_id: str, workspace_id: str) -> None: ...
    async def count_workspaces(self, *, org_id: str) -> int: ...
    async def insert_workspace(self, *, workspace: Workspace) -> Workspace: ...
    async def list_workspaces(self, *, org_id: str) -> list[Workspace]: ...
    async def get_workspace(self, *, org_id: str, workspace_id: str) -> Workspace | None: ...
    async def load_workspace(self, *, workspace_id: str) -> Workspace | None: ...
    async def update_workspace(
        self,
        *,
        org_id: str,
        workspace_id: str,
        name: str | None = None,
        key_ids: Sequence[str] | None = None,
    ) -> Workspace | None: ...
    async def set_budget(
        self, *, org_id: str, workspace_id: str, budget_usd_monthly: float | None
    ) -> Workspace | None: ...
    async def set_balancing(
        self,
        *,
        org_id: str,
        workspace_id: str,
        routing: Mapping[str, ProviderRouting] | None = None,
        max_tokens_cap: int | None = None,
        cap_given: bool = False,
    ) -> Workspace | None:
        """Replace the routing (when given; published) and/or the max_tokens cap."""
        ...

    async def delete_workspace(self, *, org_id: str, workspace_id: str) -> Workspace | None: ...
    async def workspaces_with_key(self, *, org_id: str, key_id: str) -> list[Workspace]: ...
    async def remove_key(self, *, workspace_id: str, key_id: str) -> Workspace | None: ...
    async def mark_workspace_published(self, *, workspace_id: str, version: int) -> None: ...
    async def workspaces_pending_publish(self) -> list[Workspace]: ...
    async def mark_org_published(self, *, org_id: str, plan: str) -> None: ...
    async def orgs_pending_publish(self) -> list[Org]: ...
    async def mark_all_for_publish(self) -> tuple[int, int]:
        """Put every org's plan and every workspace (deleted ones too) in the outbox;
        returns (orgs, workspaces)."""
        ...


class LedgerStore(Protocol):
    """Execution records: finished ones and queued ones, each inserted at most once per
    (org_id, execution_id): execution ids are scoped by org.

    Inserts of an id already present are ignored (never an update), so a duplicate counts
    once and the first result wins; reads prefer the finished record over the queued one.
    """

    async def insert_finished(self, *, records: Sequence[ExecutionRecord]) -> list[ExecutionRecord]:
        """Insert what is new and add exactly those to their daily rollups; the records this
        call inserted, as a later read returns them."""
        ...

    async def insert_queued(self, *, records: Sequence[ExecutionRecord]) -> int: ...
    async def get_execution(self, *, org_id: str, execution_id: str) -> ExecutionRecord | None: ...
    def finished_between(
        self, *, org_id: str, since: datetime | None, until: datetime | None
    ) -> AsyncIterator[UsageFact]: ...
    async def daily_between(
        self, *, org_id: str, first_day: date, end_day: date, by_day: bool
    ) -> list[DailyUsage]:
        """The org's rollups of the days in [first_day, end_day): one row per day and group
        with `by_day`, else rows may also cover a whole month (`day` is then its first)."""
        ...

    async def prune_outputs(self, *, now: datetime) -> int: ...
    async def recent(
        self,
        *,
        org_id: str,
        workspace_id: str,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[ExecutionRecord]:
        """Up to `limit` executions of the workspace, newest first by (`at`, id), strictly
        after `before` in that order; a finished record hides its queued one."""
        ...


class KeyConfirmer(Protocol):
    """Asks keyvault about a key the read model does not know (yet)."""

    async def fetch_key(self, *, org_id: str, key_id: str) -> KeyInfo | None: ...


class StatePublisher(Protocol):
    async def publish_assignments(self, event: WorkspaceAssignmentsChanged) -> None: ...
    async def publish_plan(self, event: OrgPlanChanged) -> None: ...


class Catalog(Protocol):
    def models_for_providers(self, providers: set[str]) -> Sequence[CatalogEntry]: ...
    def provider_of(self, model: str) -> str | None: ...


class RunBoundsStore(Protocol):
    """Idempotency claims and per-org rate counters of test runs (shared by every gateway)."""

    async def find_claim(self, *, org_id: str, key: str) -> IdempotencyClaim | None: ...

    async def claim(self, *, claim: IdempotencyClaim, now: datetime) -> IdempotencyClaim:
        """Bind the key atomically: the stored claim, which is `claim` unless another live
        claim of the same key won (then that one). An expired claim is taken over."""
        ...

    async def release(self, *, org_id: str, key: str, execution_id: str) -> None:
        """Drop the claim if it still names `execution_id` (its request was never sent)."""
        ...

    async def take_run_slot(
        self, *, org_id: str, window_start: datetime, limit: int, expires_at: datetime
    ) -> bool:
        """Take one of the org's `limit` runs of the window; False when all are taken
        (exact under concurrency)."""
        ...

    async def prune(self, *, now: datetime) -> int:
        """Delete expired claims and windows; how many went."""
        ...
