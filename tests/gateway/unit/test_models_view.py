"""The gateway's read model of workspaces and keys: it answers only what it knows for sure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.domain import WorkspaceModelsView, WorkspaceNotFoundError
from gateway.service import WorkspaceModels
from shared.catalog import models_for_providers
from shared.contracts import ProviderKeyChanged, WorkspaceAssignmentsChanged


def key(
    key_id: str, provider: str, *, org: str = "org-a", status: str = "active"
) -> ProviderKeyChanged:
    return ProviderKeyChanged.model_validate(
        {
            "key_id": key_id,
            "org_id": org,
            "provider": provider,
            "name": key_id,
            "preview": "sk-…abcd",
            "status": status,
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "created_by": "u",
        }
    )


def ws(
    key_ids: list[str], *, org: str = "org-a", deleted: bool = False
) -> WorkspaceAssignmentsChanged:
    return WorkspaceAssignmentsChanged(
        workspace_id="ws-1", org_id=org, key_ids=key_ids, deleted=deleted
    )


def test_providers_of_live_assigned_keys_only() -> None:
    view = WorkspaceModelsView()
    view.apply_key("k1", key("k1", "anthropic"))
    view.apply_key("k2", key("k2", "openai"))
    view.apply_workspace("ws-1", ws(["k2", "k1"]))
    assert view.providers("org-a", "ws-1") == {"anthropic", "openai"}
    view.apply_key("k2", key("k2", "openai", status="deleted"))
    assert view.providers("org-a", "ws-1") == {"anthropic"}


def test_deletion_of_a_key_is_final() -> None:
    view = WorkspaceModelsView()
    view.apply_key("k1", key("k1", "anthropic", status="deleted"))
    view.apply_key("k1", key("k1", "anthropic"))  # a stale "active" replayed
    view.apply_workspace("ws-1", ws(["k1"]))
    assert view.providers("org-a", "ws-1") == set()


def test_a_key_tombstone_counts_as_deleted() -> None:
    view = WorkspaceModelsView()
    view.apply_key("k1", key("k1", "anthropic"))
    view.apply_key("k1", None)
    view.apply_workspace("ws-1", ws(["k1"]))
    assert view.providers("org-a", "ws-1") == set()


def test_what_is_not_known_yet_is_none_never_a_guess() -> None:
    view = WorkspaceModelsView()
    assert view.providers("org-a", "ws-1") is None
    view.apply_workspace("ws-1", ws(["k-new"]))
    assert view.providers("org-a", "ws-1") is None  # assigned key not announced yet
    view.apply_workspace("ws-1", None)  # tombstone: forgotten, ask the owner
    assert view.providers("org-a", "ws-1") is None


def test_deleted_and_foreign_workspaces_are_not_found() -> None:
    view = WorkspaceModelsView()
    view.apply_workspace("ws-1", ws([]))
    with pytest.raises(WorkspaceNotFoundError):
        view.providers("org-b", "ws-1")
    view.apply_workspace("ws-1", ws([], deleted=True))
    with pytest.raises(WorkspaceNotFoundError):
        view.providers("org-a", "ws-1")


def test_another_orgs_key_gives_no_provider() -> None:
    view = WorkspaceModelsView()
    view.apply_key("k1", key("k1", "anthropic", org="org-b"))
    view.apply_workspace("ws-1", ws(["k1"]))
    assert view.providers("org-a", "ws-1") == set()


class Checked:
    def __init__(self) -> None:
        self.calls = 0

    async def check(self) -> None:
        self.calls += 1


async def test_models_pass_the_fence_first_and_keep_catalog_order() -> None:
    view, fence = WorkspaceModelsView(), Checked()
    view.apply_key("k1", key("k1", "openai"))
    view.apply_key("k2", key("k2", "anthropic"))
    view.apply_workspace("ws-1", ws(["k1", "k2"]))
    got = await WorkspaceModels(view, fence).models("org-a", "ws-1")
    assert got == models_for_providers({"anthropic", "openai"})
    assert got is not None
    assert got[0].provider == "anthropic"  # catalog order, not assignment order
    assert fence.calls == 1
