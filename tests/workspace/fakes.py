"""In-memory twins of workspace's stores, for unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

from shared.contracts import ProviderRouting
from workspace.domain import (
    DailyUsage,
    ExecutionRecord,
    IdempotencyClaim,
    NameTakenError,
    Org,
    UsageFact,
    Workspace,
    prune_routing,
)


class InMemoryWorkspaceStore:
    def __init__(self) -> None:
        self.orgs: dict[str, Org] = {}
        self.plan_pending: set[str] = set()
        self.slots: dict[str, set[str]] = {}
        self.workspaces: dict[str, Workspace] = {}
        self.publish_pending: set[str] = set()

    async def get_org(self, *, org_id: str) -> Org | None:
        return self.orgs.get(org_id)

    async def create_org_if_missing(self, *, org_id: str, plan: str, now: datetime) -> bool:
        if org_id in self.orgs:
            return False
        self.orgs[org_id] = Org(org_id=org_id, plan=plan, created_at=now)
        self.plan_pending.add(org_id)
        return True

    async def set_plan(self, *, org_id: str, plan: str) -> bool:
        org = self.orgs[org_id]
        if org.plan == plan:
            return False
        self.orgs[org_id] = replace(org, plan=plan)
        self.plan_pending.add(org_id)
        return True

    async def acquire_slot(self, *, org_id: str, limit: int | None, workspace_id: str) -> bool:
        held = self.slots.setdefault(org_id, set())
        if limit is not None and len(held) >= limit:
            return False
        held.add(workspace_id)
        return True

    async def release_slot(self, *, org_id: str, workspace_id: str) -> None:
        self.slots.get(org_id, set()).discard(workspace_id)

    async def count_workspaces(self, *, org_id: str) -> int:
        return len(await self.list_workspaces(org_id=org_id))

    async def mark_org_published(self, *, org_id: str, plan: str) -> None:
        org = self.orgs.get(org_id)
        if org is not None and org.plan == plan:
            self.plan_pending.discard(org_id)

    async def mark_all_for_publish(self) -> tuple[int, int]:
        self.plan_pending.update(self.orgs)
        self.publish_pending.update(self.workspaces)
        return len(self.orgs), len(self.workspaces)

    async def orgs_pending_publish(self) -> list[Org]:
        return [self.orgs[o] for o in sorted(self.plan_pending)]

    def _name_taken(self, org_id: str, name: str, but: str | None = None) -> bool:
        return any(
            w.org_id == org_id
            and not w.deleted
            and w.id != but
            and w.name.casefold() == name.casefold()
            for w in self.workspaces.values()
        )

    async def insert_workspace(self, *, workspace: Workspace) -> Workspace:
        if self._name_taken(workspace.org_id, workspace.name):
            raise NameTakenError(f"a workspace named {workspace.name!r} already exists")
        stored = replace(workspace, version=1)
        self.workspaces[workspace.id] = stored
        self.publish_pending.add(workspace.id)
        return stored

    async def list_workspaces(self, *, org_id: str) -> list[Workspace]:
        found = [w for w in self.workspaces.values() if w.org_id == org_id and not w.deleted]
        return sorted(found, key=lambda w: (w.created_at, w.id))

    async def get_workspace(self, *, org_id: str, workspace_id: str) -> Workspace | None:
        w = self.workspaces.get(workspace_id)
        return w if w is not None and w.org_id == org_id and not w.deleted else None

    async def load_workspace(self, *, workspace_id: str) -> Workspace | None:
        return self.workspaces.get(workspace_id)

    async def update_workspace(
        self,
        *,
        org_id: str,
        workspace_id: str,
        name: str | None = None,
        key_ids: Sequence[str] | None = None,
    ) -> Workspace | None:
        w = await self.get_workspace(org_id=org_id, workspace_id=workspace_id)
        if w is None:
            return None
        if name is not None:
            if self._name_taken(org_id, name, but=workspace_id):
                raise NameTakenError(f"a workspace named {name!r} already exists")
            w = replace(w, name=name)
        if key_ids is not None:
            w = replace(w, key_ids=tuple(key_ids))
            self.publish_pending.add(workspace_id)
        w = replace(w, version=w.version + 1)
        self.workspaces[workspace_id] = w
        return w

    async def set_budget(
        self, *, org_id: str, workspace_id: str, budget_usd_monthly: float | None
    ) -> Workspace | None:
        w = await self.get_workspace(org_id=org_id, workspace_id=workspace_id)
        if w is None:
            return None
        w = replace(w, budget_usd_monthly=budget_usd_monthly, version=w.version + 1)
        self.workspaces[workspace_id] = w
        self.publish_pending.add(workspace_id)
        return w

    async def set_balancing(
        self,
        *,
        org_id: str,
        workspace_id: str,
        routing: Mapping[str, ProviderRouting] | None = None,
        max_tokens_cap: int | None = None,
        cap_given: bool = False,
    ) -> Workspace | None:
        w = await self.get_workspace(org_id=org_id, workspace_id=workspace_id)
        if w is None:
            return None
        if routing is not None:
            w = replace(w, routing=dict(routing))
            self.publish_pending.add(workspace_id)
        if cap_given:
            w = replace(w, max_tokens_cap=max_tokens_cap)
        w = replace(w, version=w.version + 1)
        self.workspaces[workspace_id] = w
        return w

    async def delete_workspace(self, *, org_id: str, workspace_id: str) -> Workspace | None:
        w = await self.get_workspace(org_id=org_id, workspace_id=workspace_id)
        if w is None:
            return None
        w = replace(w, deleted=True, key_ids=(), version=w.version + 1)
        self.workspaces[workspace_id] = w
        self.publish_pending.add(workspace_id)
        return w

    async def workspaces_with_key(self, *, org_id: str, key_id: str) -> list[Workspace]:
        return [
            w
            for w in self.workspaces.values()
            if w.org_id == org_id and key_id in w.key_ids and not w.deleted
        ]

    async def remove_key(self, *, workspace_id: str, key_id: str) -> Workspace | None:
        w = self.workspaces.get(workspace_id)
        if w is None or key_id not in w.key_ids:
            return None
        kept = tuple(k for k in w.key_ids if k != key_id)
        w = replace(w, key_ids=kept, routing=prune_routing(w.routing, kept), version=w.version + 1)
        self.workspaces[workspace_id] = w
        self.publish_pending.add(workspace_id)
        return w

    async def mark_workspace_published(self, *, workspace_id: str, version: int) -> None:
        w = self.workspaces.get(workspace_id)
        if w is not None and w.version == version:
            self.publish_pending.discard(workspace_id)

    async def workspaces_pending_publish(self) -> list[Workspace]:
        return [self.workspaces[w] for w in sorted(self.publish_pending)]


class InMemoryLedgerStore:
    """Finished and queued records kept apart, as in Mongo; inserts only, first one wins."""

    def __init__(self) -> None:
        # Keyed by (org_id, execution_id): execution ids are scoped by org.
        self.finished: dict[tuple[str, str], ExecutionRecord] = {}
        self.queued: dict[tuple[str, str], ExecutionRecord] = {}
        # (org, day, key, workspace, provider, model) -> rollup, as `ledger_daily`.
        self.daily: dict[tuple[str, date, str | None, str, str | None, str], DailyUsage] = {}

    async def insert_finished(self, *, records: Sequence[ExecutionRecord]) -> list[ExecutionRecord]:
        new = [r for r in records if (r.org_id, r.execution_id) not in self.finished]
        _insert_new(self.finished, records)
        for r in {(r.org_id, r.execution_id): r for r in new}.values():
            if r.finished_at is None:
                continue
            day = r.finished_at.astimezone(UTC).date()
            bucket = (r.org_id, day, r.key_id, r.workspace_id, r.provider, r.model)
            was = self.daily.get(bucket) or DailyUsage(day, *bucket[2:], 0, 0, 0, 0, 0, 0.0, 0)
            self.daily[bucket] = replace(
                was,
                executions=was.executions + 1,
                succeeded=was.succeeded + (r.status == "succeeded"),
                failed=was.failed + (r.status == "failed"),
                input_tokens=was.input_tokens + (r.input_tokens or 0),
                output_tokens=was.output_tokens + (r.output_tokens or 0),
                cost_usd=was.cost_usd + (r.cost_usd or 0.0),
                priced=was.priced + (r.cost_usd is not None),
            )
        return list({(r.org_id, r.execution_id): r for r in new}.values())

    async def daily_between(
        self, *, org_id: str, first_day: date, end_day: date, by_day: bool
    ) -> list[DailyUsage]:
        return [
            row
            for (org, day, *_), row in self.daily.items()
            if org == org_id and first_day <= day < end_day
        ]

    async def insert_queued(self, *, records: Sequence[ExecutionRecord]) -> int:
        return _insert_new(self.queued, records)

    async def get_execution(self, *, org_id: str, execution_id: str) -> ExecutionRecord | None:
        key = (org_id, execution_id)
        r = self.finished.get(key) or self.queued.get(key)
        return r if r is not None and r.org_id == org_id else None

    async def finished_between(
        self, *, org_id: str, since: datetime | None, until: datetime | None
    ) -> AsyncIterator[UsageFact]:
        for r in list(self.finished.values()):
            if r.org_id != org_id or r.finished_at is None:
                continue
            if since is not None and r.finished_at < since:
                continue
            if until is not None and r.finished_at >= until:
                continue
            yield UsageFact(
                key_id=r.key_id,
                workspace_id=r.workspace_id,
                model=r.model,
                input_tokens=r.input_tokens or 0,
                output_tokens=r.output_tokens or 0,
                cost_usd=r.cost_usd,
                finished_at=r.finished_at,
            )

    async def recent(
        self,
        *,
        org_id: str,
        workspace_id: str,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[ExecutionRecord]:
        latest = {**self.queued, **self.finished}
        items = sorted(
            (
                r
                for r in latest.values()
                if r.org_id == org_id
                and r.workspace_id == workspace_id
                and r.at is not None
                and (before is None or (r.at, r.execution_id) < before)
            ),
            key=lambda r: (r.at, r.execution_id),
            reverse=True,
        )
        return items[:limit]

    async def prune_outputs(self, *, now: datetime) -> int:
        pruned = 0
        for key, r in list(self.finished.items()):
            if r.output_expires_at is not None and r.output_expires_at <= now:
                self.finished[key] = replace(r, output_text=None, output_expires_at=None)
                pruned += 1
        return pruned


def _insert_new(
    into: dict[tuple[str, str], ExecutionRecord], records: Sequence[ExecutionRecord]
) -> int:
    new = 0
    for record in records:
        key = (record.org_id, record.execution_id)
        if key not in into:
            into[key] = record
            new += 1
    return new


class InMemoryRunBoundsStore:
    """Idempotency claims and rate windows (single process: no race to lose)."""

    def __init__(self) -> None:
        self.claims: dict[tuple[str, str], IdempotencyClaim] = {}
        self.windows: dict[tuple[str, datetime], int] = {}

    async def find_claim(self, *, org_id: str, key: str) -> IdempotencyClaim | None:
        return self.claims.get((org_id, key))

    async def claim(self, *, claim: IdempotencyClaim, now: datetime) -> IdempotencyClaim:
        existing = self.claims.get((claim.org_id, claim.key))
        if existing is not None and existing.live(now):
            return existing
        self.claims[(claim.org_id, claim.key)] = claim
        return claim

    async def release(self, *, org_id: str, key: str, execution_id: str) -> None:
        existing = self.claims.get((org_id, key))
        if existing is not None and existing.execution_id == execution_id:
            del self.claims[(org_id, key)]

    async def take_run_slot(
        self, *, org_id: str, window_start: datetime, limit: int, expires_at: datetime
    ) -> bool:
        used = self.windows.get((org_id, window_start), 0)
        if used >= limit:
            return False
        self.windows[(org_id, window_start)] = used + 1
        return True

    async def prune(self, *, now: datetime) -> int:
        expired = [k for k, c in self.claims.items() if not c.live(now)]
        for k in expired:
            del self.claims[k]
        return len(expired)
