"""Use cases of organizations, plans, workspaces and their ordered key assignments."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.contracts import OrgPlanChanged, PlanLimits, ProviderKeyChanged, utcnow
from shared.contracts import WorkspaceAssignmentsChanged as AssignmentsChanged
from workspace.domain import (
    MAX_ASSIGNED,
    Catalog,
    CatalogEntry,
    InvalidInputError,
    KeyConfirmer,
    KeyDirectory,
    NotFoundError,
    Org,
    PlanLimitReachedError,
    StatePublisher,
    UnknownAIProviderError,
    UnknownPlanError,
    Workspace,
    WorkspaceStore,
    clean_name,
    new_workspace_id,
    prune_routing,
    validate_max_tokens_cap,
    validate_routing,
)
from workspace.domain.budgets import validate_budget

log = logging.getLogger(__name__)


class WorkspaceService:
    """The rules of orgs, plans and workspaces; state is published after every change."""

    def __init__(
        self,
        *,
        store: WorkspaceStore,
        publisher: StatePublisher,
        keys: KeyDirectory,
        confirmer: KeyConfirmer,
        catalog: Catalog,
        plans: dict[str, PlanLimits],
        default_plan: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.keys = keys
        self.confirmer = confirmer
        self.catalog = catalog
        self.plans = plans
        self.default_plan = default_plan
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.pending_key_removals: set[tuple[str, str]] = set()

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[name] = lock
        return lock

    def limits_of(self, plan: str) -> PlanLimits:
        # A plan removed from configuration falls back to the default plan's limits.
        return self.plans.get(plan) or self.plans[self.default_plan]

    # --- organizations and plans -------------------------------------------------------

    async def ensure_org(self, org_id: str) -> Org:
        """The org, created with the default plan (and published) on first use."""
        org = await self.store.get_org(org_id=org_id)
        if org is None:
            if await self.store.create_org_if_missing(
                org_id=org_id, plan=self.default_plan, now=self.clock()
            ):
                log.info("org created", extra={"org_id": org_id})
            org = await self.store.get_org(org_id=org_id)
            if org is None:  # pragma: no cover - the upsert above makes it exist
                raise NotFoundError(f"organization {org_id!r} could not be created")
            await self._publish_plan(org)
        return org

    async def plan_of(self, org_id: str) -> tuple[Org, PlanLimits]:
        """The org's plan and its limits."""
        org = await self.ensure_org(org_id)
        return org, self.limits_of(org.plan)

    async def set_plan(self, org_id: str, plan: str) -> tuple[Org, PlanLimits]:
        """Change an org's plan (platform admin); published when it changed."""
        if plan not in self.plans:
            raise UnknownPlanError(f"unknown plan {plan!r}; known plans: {', '.join(self.plans)}")
        await self.ensure_org(org_id)
        await self.store.set_plan(org_id=org_id, plan=plan)
        org = await self.store.get_org(org_id=org_id)
        if org is None:  # pragma: no cover
            raise NotFoundError(f"organization {org_id!r} not found")
        await self._publish_plan(org)
        return org, self.limits_of(org.plan)

    async def _publish_plan(self, org: Org) -> None:
        async with self._lock(f"org:{org.org_id}"):
            current = await self.store.get_org(org_id=org.org_id) or org
            event = OrgPlanChanged(
                org_id=current.org_id, plan=current.plan, limits=self.limits_of(current.plan)
            )
            try:
                await self.publisher.publish_plan(event)
            except Exception:
                log.exception("plan publish failed; will retry", extra={"org_id": org.org_id})
                return
            await self.store.mark_org_published(org_id=current.org_id, plan=current.plan)

    # --- workspaces --------------------------------------------------------------------

    async def create_workspace(self, org_id: str, name: str) -> Workspace:
        """A new empty workspace, within the plan's workspace limit (exact under races)."""
        cleaned = clean_name(name)
        org, limits = await self.plan_of(org_id)
        workspace_id = new_workspace_id()
        limit = limits.workspaces
        # An org already at or over its limit (e.g. after a downgrade) gets no new slot.
        over = limit is not None and await self.store.count_workspaces(org_id=org_id) >= limit
        if over or not await self.store.acquire_slot(
            org_id=org_id, limit=limit, workspace_id=workspace_id
        ):
            raise PlanLimitReachedError(
                f"the {org.plan} plan allows {limits.workspaces} workspaces; "
                "delete one or change the plan"
            )
        workspace = Workspace(
            id=workspace_id,
            org_id=org_id,
            name=cleaned,
            key_ids=(),
            created_at=self.clock(),
        )
        try:
            created = await self.store.insert_workspace(workspace=workspace)
        except BaseException:
            await self.store.release_slot(org_id=org_id, workspace_id=workspace_id)
            raise
        await self._publish_workspace(created.id)
        return created

    async def workspace_count(self, org_id: str) -> int:
        """How many workspaces the org has now."""
        return await self.store.count_workspaces(org_id=org_id)

    async def list_workspaces(self, org_id: str) -> list[Workspace]:
        """The org's workspaces, oldest first."""
        await self.ensure_org(org_id)
        return await self.store.list_workspaces(org_id=org_id)

    async def get_workspace(self, org_id: str, workspace_id: str) -> Workspace:
        """One workspace of the org; another org's workspace is NotFoundError."""
        workspace = await self.store.get_workspace(org_id=org_id, workspace_id=workspace_id)
        if workspace is None:
            raise NotFoundError(f"workspace {workspace_id!r} not found")
        return workspace

    async def update_workspace(
        self,
        org_id: str,
        workspace_id: str,
        *,
        name: str | None = None,
        key_ids: Sequence[str] | None = None,
        routing: Mapping[str, Any] | None = None,
        max_tokens_cap: int | None = None,
        cap_given: bool = False,
    ) -> Workspace:
        """Rename, replace the ordered key assignments, the routing per provider and/or the
        max_tokens cap of a workspace; everything is checked before anything is written."""
        cleaned = clean_name(name) if name is not None else None
        ordered = await self._validate_keys(org_id, key_ids) if key_ids is not None else None
        current = await self.get_workspace(org_id, workspace_id)
        assigned = ordered if ordered is not None else current.key_ids
        new_routing = None
        if routing is not None:
            await self._learn_keys(org_id, _weighted_keys(routing))
            new_routing = validate_routing(routing, key_ids=assigned, provider_of=self._provider_of)
        elif ordered is not None and current.routing:
            pruned = prune_routing(current.routing, ordered)
            new_routing = pruned if pruned != current.routing else None
        cap = validate_max_tokens_cap(max_tokens_cap) if cap_given else None
        updated = await self.store.update_workspace(
            org_id=org_id, workspace_id=workspace_id, name=cleaned, key_ids=ordered
        )
        if updated is None:
            raise NotFoundError(f"workspace {workspace_id!r} not found")
        if new_routing is not None or cap_given:
            await self.store.set_balancing(
                org_id=org_id,
                workspace_id=workspace_id,
                routing=new_routing,
                max_tokens_cap=cap,
                cap_given=cap_given,
            )
        if ordered is not None:
            # A key deleted while this request was in flight must not come back.
            for key_id in ordered:
                info = self.keys.get(key_id)
                if info is not None and not info.live:
                    await self.store.remove_key(workspace_id=workspace_id, key_id=key_id)
        if ordered is not None or new_routing is not None or cleaned is not None:
            await self._publish_workspace(workspace_id)
        return await self.get_workspace(org_id, workspace_id)

    async def set_budget(
        self, org_id: str, workspace_id: str, budget_usd_monthly: float | None
    ) -> Workspace:
        """Set or clear the workspace's monthly budget (USD); published for keyvault."""
        budget = validate_budget(budget_usd_monthly)
        updated = await self.store.set_budget(
            org_id=org_id, workspace_id=workspace_id, budget_usd_monthly=budget
        )
        if updated is None:
            raise NotFoundError(f"workspace {workspace_id!r} not found")
        await self._publish_workspace(workspace_id)
        return updated

    def _provider_of(self, key_id: str) -> str | None:
        info = self.keys.get(key_id)
        return info.provider if info is not None else None

    async def _learn_keys(self, org_id: str, key_ids: Sequence[str]) -> None:
        """Ask keyvault about keys the read model does not know yet."""
        for key_id in key_ids:
            if self.keys.get(key_id) is None:
                info = await self.confirmer.fetch_key(org_id=org_id, key_id=key_id)
                if info is not None:
                    self.keys.learn(info)

    async def _validate_keys(self, org_id: str, key_ids: Sequence[str]) -> tuple[str, ...]:
        if len(key_ids) > MAX_ASSIGNED:
            raise InvalidInputError(f"ai_provider_ids: at most {MAX_ASSIGNED} keys")
        seen: set[str] = set()
        for key_id in key_ids:
            if key_id in seen:
                raise InvalidInputError(f"ai_provider_ids: {key_id!r} is listed twice")
            seen.add(key_id)
            info = self.keys.get(key_id)
            if info is None:
                info = await self.confirmer.fetch_key(org_id=org_id, key_id=key_id)
                if info is not None:
                    self.keys.learn(info)
                    info = self.keys.get(key_id)
            if info is None or info.org_id != org_id or not info.live:
                raise UnknownAIProviderError(key_id)
        return tuple(key_ids)

    async def delete_workspace(self, org_id: str, workspace_id: str) -> None:
        """Delete a workspace; its slot is freed and a deletion is published."""
        deleted = await self.store.delete_workspace(org_id=org_id, workspace_id=workspace_id)
        if deleted is None:
            raise NotFoundError(f"workspace {workspace_id!r} not found")
        await self.store.release_slot(org_id=org_id, workspace_id=workspace_id)
        await self._publish_workspace(workspace_id)

    async def models(self, org_id: str, workspace_id: str) -> Sequence[CatalogEntry]:
        """Catalog models of every provider with a live key assigned, in catalog order."""
        workspace = await self.get_workspace(org_id, workspace_id)
        providers = self.keys.live_providers(org_id, workspace.key_ids)
        return self.catalog.models_for_providers(providers)

    async def _publish_workspace(self, workspace_id: str) -> None:
        async with self._lock(f"ws:{workspace_id}"):
            # Publish what is stored now, so the last event is always the latest state.
            workspace = await self.store.load_workspace(workspace_id=workspace_id)
            if workspace is None:
                return
            event = AssignmentsChanged(
                workspace_id=workspace.id,
                org_id=workspace.org_id,
                key_ids=[] if workspace.deleted else list(workspace.key_ids),
                deleted=workspace.deleted,
                budget_usd_monthly=workspace.budget_usd_monthly,
                name=workspace.name,
                routing={} if workspace.deleted else dict(workspace.routing),
            )
            try:
                await self.publisher.publish_assignments(event)
            except Exception:
                log.exception("assignments publish failed; will retry")
                return
            await self.store.mark_workspace_published(
                workspace_id=workspace.id, version=workspace.version
            )

    # --- keyvault.keys.v1 --------------------------------------------------------------

    async def on_key_changed(self, event: ProviderKeyChanged) -> None:
        """Update the read model; a deleted key leaves every workspace of its org."""
        info = self.keys.apply(event)
        if not info.live:
            await self.remove_key_everywhere(info.org_id, info.key_id)

    async def remove_key_everywhere(self, org_id: str, key_id: str) -> None:
        try:
            for workspace in await self.store.workspaces_with_key(org_id=org_id, key_id=key_id):
                if await self.store.remove_key(workspace_id=workspace.id, key_id=key_id):
                    log.info("deleted key unassigned", extra={"workspace_id": workspace.id})
                    await self._publish_workspace(workspace.id)
        except Exception:
            log.exception("unassigning a deleted key failed; will retry")
            self.pending_key_removals.add((org_id, key_id))
            return
        self.pending_key_removals.discard((org_id, key_id))

    async def republish_all(self) -> tuple[int, int]:
        """Publish every org's plan and every workspace's assignments again (disaster recovery
        of the compacted topics): all go to the outbox, which is then drained. Safe while the
        service runs (the last record per key is the current state). Returns (orgs,
        workspaces); raises if a round publishes nothing that is left."""
        counts = await self.store.mark_all_for_publish()
        previous: tuple[set[str], set[str]] | None = None
        while True:
            orgs = await self.store.orgs_pending_publish()
            workspaces = await self.store.workspaces_pending_publish()
            if not orgs and not workspaces:
                return counts
            now = ({o.org_id for o in orgs}, {w.id for w in workspaces})
            if now == previous:
                raise RuntimeError(
                    f"{len(now[0])} plans and {len(now[1])} workspaces could not be published"
                )
            previous = now
            for workspace in workspaces:
                await self._publish_workspace(workspace.id)
            for org in orgs:
                await self._publish_plan(org)

    async def retry_pending(self) -> None:
        """Republish state whose publish failed, and finish interrupted unassignments."""
        for org_id, key_id in list(self.pending_key_removals):
            await self.remove_key_everywhere(org_id, key_id)
        for workspace in await self.store.workspaces_pending_publish():
            await self._publish_workspace(workspace.id)
        for org in await self.store.orgs_pending_publish():
            await self._publish_plan(org)


def _weighted_keys(routing: Mapping[str, Any]) -> list[str]:
    """The key ids a routing request gives weights to (whatever its shape; checked later)."""
    found: list[str] = []
    for rule in routing.values():
        weights = rule.get("weights") if isinstance(rule, Mapping) else None
        if isinstance(weights, Mapping):
            found.extend(str(k) for k in weights)
    return found
