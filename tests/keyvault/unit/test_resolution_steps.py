"""How a resolution's steps overlap without giving up fail-closed revocation.

The fence (a Kafka ListOffsets round trip, then waiting for the readers) and the key lookup
(a store read) are independent round trips, so they run together; the read model is trusted
only once the fence has passed, and a key read for an assignment the fence then replaced is
read again for the current one.
"""

from __future__ import annotations

import asyncio

import pytest

from keyvault.domain import (
    AssignmentsView,
    EncryptedSecret,
    PlansView,
    ProviderKey,
    ProviderNotConfiguredError,
    ReadModelsBehindError,
)
from keyvault.service import Vault
from keyvault.service.envelope import LocalKeyring, new_version_entry
from shared.contracts import WorkspaceAssignmentsChanged
from shared.crypto import SecretValue, new_recipient, open_sealed, seal_context
from tests.keyvault.fakes import InMemoryKeyStore

ANTHROPIC = "sk-ant-api03-steps-unit-0123456789abcdef"
OTHER = "sk-ant-api03-steps-unit-other-0123456789"


class GatedFence:
    """A Freshness whose round trip lasts until the test opens it; what the readers apply
    meanwhile is `on_pass`, run just before it returns."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.started = asyncio.Event()
        self.fail = False
        self.on_pass: list[WorkspaceAssignmentsChanged] = []
        self.view: AssignmentsView | None = None

    async def check(self) -> None:
        self.started.set()
        await self.opened.wait()
        if self.fail:
            raise ReadModelsBehindError("keyvault's read models may be stale; retry shortly")
        assert self.view is not None
        for event in self.on_pass:
            self.view.apply(event.workspace_id, event)


class WatchedStore(InMemoryKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0
        self.looked_up = asyncio.Event()

    async def key_material(
        self, *, org_id: str, key_ids: list[str]
    ) -> list[tuple[ProviderKey, EncryptedSecret | None]]:
        self.lookups += 1
        self.looked_up.set()
        return await super().key_material(org_id=org_id, key_ids=key_ids)


class NoDirectory:
    async def fetch(self, *, org_id: str, workspace_id: str) -> None:
        return None


class Events:
    async def publish(self, key: ProviderKey) -> None:
        pass


def _vault(store: WatchedStore, fence: GatedFence) -> Vault:
    view = AssignmentsView()
    fence.view = view
    return Vault(
        store=store,
        keyring=LocalKeyring([new_version_entry("t-")]),
        events=Events(),
        assignments=view,
        plans=PlansView(None),
        directory=NoDirectory(),
        freshness=fence,
    )


def _assigned(ws: str, org: str, key_ids: list[str]) -> WorkspaceAssignmentsChanged:
    return WorkspaceAssignmentsChanged(workspace_id=ws, org_id=org, key_ids=key_ids)


async def _resolve(vault: Vault, public: bytes, execution_id: str = "ex-1") -> asyncio.Task[object]:
    return asyncio.create_task(
        vault.resolve(
            org_id="org-a",
            workspace_id="ws-1",
            provider="anthropic",
            execution_id=execution_id,
            public_key=public,
            skip_key_ids=[],
            service="agent-runner",
        )
    )


async def _key(vault: Vault, name: str, secret: str) -> ProviderKey:
    return await vault.create(
        org_id="org-a", provider="anthropic", name=name, secret=SecretValue(secret), actor="u"
    )


async def test_the_key_lookup_runs_while_the_fence_round_trip_is_in_flight() -> None:
    store, fence = WatchedStore(), GatedFence()
    vault = _vault(store, fence)
    key = await _key(vault, "k", ANTHROPIC)
    vault.assignments.apply("ws-1", _assigned("ws-1", "org-a", [key.id]))
    private, public = new_recipient()

    task = await _resolve(vault, public)
    await asyncio.wait_for(store.looked_up.wait(), 5)  # the fence has not passed yet
    assert not task.done()
    # Nothing is audited, so nothing released, before the fence passes.
    assert [e for e in store.audit if e.action == "resolved"] == []

    fence.opened.set()
    resolved = await task
    context = seal_context(execution_id="ex-1", key_id=key.id)
    assert open_sealed(private, resolved.sealed, context).decode() == ANTHROPIC  # type: ignore[attr-defined]
    assert [e.action for e in store.audit if e.action == "resolved"] == ["resolved"]


async def test_an_unassignment_the_fence_applies_is_honoured() -> None:
    store, fence = WatchedStore(), GatedFence()
    vault = _vault(store, fence)
    key = await _key(vault, "k", ANTHROPIC)
    vault.assignments.apply("ws-1", _assigned("ws-1", "org-a", [key.id]))
    # Written before the request arrived, applied by the reader while the fence waits.
    fence.on_pass = [_assigned("ws-1", "org-a", [])]
    _, public = new_recipient()

    task = await _resolve(vault, public)
    await asyncio.wait_for(store.looked_up.wait(), 5)
    fence.opened.set()

    with pytest.raises(ProviderNotConfiguredError):
        await task
    assert [e for e in store.audit if e.action == "resolved"] == []


async def test_a_reassignment_the_fence_applies_resolves_the_new_key() -> None:
    store, fence = WatchedStore(), GatedFence()
    vault = _vault(store, fence)
    old = await _key(vault, "old", ANTHROPIC)
    new = await _key(vault, "new", OTHER)
    vault.assignments.apply("ws-1", _assigned("ws-1", "org-a", [old.id]))
    fence.on_pass = [_assigned("ws-1", "org-a", [new.id])]
    private, public = new_recipient()

    task = await _resolve(vault, public)
    await asyncio.wait_for(store.looked_up.wait(), 5)
    fence.opened.set()

    resolved = await task
    assert resolved.key_id == new.id  # type: ignore[attr-defined]
    context = seal_context(execution_id="ex-1", key_id=new.id)
    assert open_sealed(private, resolved.sealed, context).decode() == OTHER  # type: ignore[attr-defined]
    assert store.lookups == 2  # read again for the assignment the fence made current


async def test_a_failed_fence_releases_nothing() -> None:
    store, fence = WatchedStore(), GatedFence()
    vault = _vault(store, fence)
    key = await _key(vault, "k", ANTHROPIC)
    vault.assignments.apply("ws-1", _assigned("ws-1", "org-a", [key.id]))
    fence.fail = True
    _, public = new_recipient()

    task = await _resolve(vault, public)
    await asyncio.wait_for(fence.started.wait(), 5)
    fence.opened.set()

    with pytest.raises(ReadModelsBehindError):
        await task
    assert [e for e in store.audit if e.action == "resolved"] == []
