"""WorkspaceService.republish_all over the in-memory store: every plan and workspace again."""

from __future__ import annotations

import pytest

from shared.plans import DEFAULT_PLAN, parse_plans
from tests.workspace.fakes import InMemoryWorkspaceStore
from tests.workspace.support import FakeConfirmer, RecordingPublisher
from workspace.domain import KeyDirectory
from workspace.service import SharedCatalog, WorkspaceService


def service() -> tuple[WorkspaceService, RecordingPublisher]:
    publisher = RecordingPublisher()
    svc = WorkspaceService(
        store=InMemoryWorkspaceStore(),
        publisher=publisher,
        keys=KeyDirectory(),
        confirmer=FakeConfirmer(),
        catalog=SharedCatalog(),
        plans=parse_plans(None),
        default_plan=DEFAULT_PLAN,
    )
    return svc, publisher


async def test_republish_all_publishes_every_plan_and_workspace_again() -> None:
    svc, published = service()
    a = await svc.create_workspace("org-a", "Sales")
    b = await svc.create_workspace("org-a", "Old")
    await svc.create_workspace("org-b", "Ops")
    await svc.delete_workspace("org-a", b.id)
    published.assignments.clear()
    published.plans.clear()
    assert await svc.republish_all() == (2, 3)
    latest = {e.workspace_id: e for e in published.assignments}
    assert len(latest) == 3
    assert latest[b.id].deleted is True
    assert latest[a.id].deleted is False
    assert {p.org_id for p in published.plans} == {"org-a", "org-b"}


async def test_republish_all_fails_loudly_when_kafka_is_down() -> None:
    svc, published = service()
    await svc.create_workspace("org-a", "Sales")
    published.fail = True
    with pytest.raises(RuntimeError, match="could not be published"):
        await svc.republish_all()
