"""Workspace quota drift against the real store (FerretDB): a downgrade below the workspace
count, and a process killed between taking the slot and inserting (issue 12, fix 5)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shared.plans import DEFAULT_PLAN, DEFAULT_PLANS
from tests.workspace.support import FakeConfirmer, RecordingPublisher
from workspace.domain import KeyDirectory, PlanLimitReachedError, Workspace
from workspace.service import SharedCatalog, WorkspaceService
from workspace.store import MongoWorkspaceStore

pytestmark = pytest.mark.integration

GRACE_S = 0.5


class KilledError(BaseException):
    """The process dies here: nothing after it runs, no `except`/`finally` cleans up."""


class CrashingWorkspaceStore(MongoWorkspaceStore):
    """The real store; `crash_after_slot` kills the create right after its slot is taken."""

    crash_after_slot = False

    async def acquire_slot(self, *, org_id: str, limit: int | None, workspace_id: str) -> bool:
        taken = await super().acquire_slot(org_id=org_id, limit=limit, workspace_id=workspace_id)
        if taken and self.crash_after_slot:
            self.crash_after_slot = False
            raise KilledError
        return taken


@pytest.fixture
async def service(
    mongo_url: str, db_name: str
) -> AsyncIterator[tuple[WorkspaceService, CrashingWorkspaceStore]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    store = CrashingWorkspaceStore(client, db_name, slot_grace_s=GRACE_S)
    await store.open()
    svc = WorkspaceService(
        store=store,
        publisher=RecordingPublisher(),
        keys=KeyDirectory(),
        confirmer=FakeConfirmer(),
        catalog=SharedCatalog(),
        plans=dict(DEFAULT_PLANS),
        default_plan=DEFAULT_PLAN,
    )
    yield svc, store
    await client.drop_database(db_name)
    await client.close()


async def test_a_workspace_create_killed_after_its_slot_leaks_nothing_after_the_grace(
    service: tuple[WorkspaceService, CrashingWorkspaceStore],
) -> None:
    svc, store = service
    org = "org-crash"  # starter: 3 workspaces
    await svc.create_workspace(org, "a")
    await svc.create_workspace(org, "b")
    store.crash_after_slot = True
    with pytest.raises(KilledError):
        await svc.create_workspace(org, "dies")
    with pytest.raises(PlanLimitReachedError):
        await svc.create_workspace(org, "too soon")  # the insert could still be on its way
    await asyncio.sleep(GRACE_S + 0.2)
    await svc.create_workspace(org, "c")  # the leaked slot came back
    with pytest.raises(PlanLimitReachedError):
        await svc.create_workspace(org, "d")
    assert await svc.workspace_count(org) == 3


async def test_a_downgrade_below_the_workspace_count_admits_nothing_until_under_the_limit(
    service: tuple[WorkspaceService, CrashingWorkspaceStore],
) -> None:
    svc, _ = service
    org = "org-down"
    await svc.set_plan(org, "team")  # 25 workspaces
    made = [await svc.create_workspace(org, f"w{n}") for n in range(5)]
    await svc.set_plan(org, "starter")  # 3
    with pytest.raises(PlanLimitReachedError):
        await svc.create_workspace(org, "over")
    for ws in made[:3]:  # the two left hold slots numbered above the new limit
        await svc.delete_workspace(org, ws.id)
    results = await asyncio.gather(
        *(svc.create_workspace(org, f"race {n}") for n in range(8)), return_exceptions=True
    )
    assert sum(isinstance(r, Workspace) for r in results) == 1
    assert all(isinstance(r, Workspace | PlanLimitReachedError) for r in results)
    assert await svc.workspace_count(org) == 3
