"""The Vault use cases over the in-memory store: limits, names, resolution, sealing, audit."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from keyvault.domain import (
    Assignment,
    AssignmentsView,
    NameTakenError,
    NoMoreKeysError,
    NotFoundError,
    PlanLimitReachedError,
    PlansView,
    ProviderKey,
    ProviderNotConfiguredError,
)
from keyvault.service import Vault
from keyvault.service.envelope import LocalKeyring, new_version_entry
from shared.contracts import (
    OrgPlanChanged,
    PlanLimits,
    ProviderRouting,
    WorkspaceAssignmentsChanged,
)
from shared.crypto import SealError, SecretValue, new_recipient, open_sealed, seal_context
from tests.keyvault.fakes import InMemoryKeyStore

ANTHROPIC = "sk-ant-api03-vault-unit-0123456789abcdef"


class RecordingEvents:
    def __init__(self) -> None:
        self.published: list[ProviderKey] = []

    async def publish(self, key: ProviderKey) -> None:
        self.published.append(key)


class FixedDirectory:
    def __init__(self) -> None:
        self.answers: dict[str, Assignment] = {}
        self.asked = 0

    async def fetch(self, *, org_id: str, workspace_id: str) -> Assignment | None:
        self.asked += 1
        return self.answers.get(workspace_id)


Parts = tuple[Vault, InMemoryKeyStore, RecordingEvents, FixedDirectory]


@pytest.fixture
def parts() -> Parts:
    store = InMemoryKeyStore()
    events = RecordingEvents()
    directory = FixedDirectory()
    vault = Vault(
        store=store,
        keyring=LocalKeyring([new_version_entry("t-")]),
        events=events,
        assignments=AssignmentsView(),
        plans=PlansView(3),
        directory=directory,
    )
    return vault, store, events, directory


def assign(vault: Vault, ws: str, org: str, key_ids: list[str]) -> None:
    vault.assignments.apply(
        ws, WorkspaceAssignmentsChanged(workspace_id=ws, org_id=org, key_ids=key_ids)
    )


async def test_create_stores_preview_and_publishes_metadata(parts: Parts) -> None:
    vault, store, events, _ = parts
    key = await vault.create(
        org_id="org-a", provider="anthropic", name="prod", secret=SecretValue(ANTHROPIC), actor="u1"
    )
    assert key.preview == "sk-ant-…cdef"
    assert events.published[-1].id == key.id
    assert ANTHROPIC not in repr(store.raw())
    assert [e.action for e in store.audit] == ["created"]


async def test_names_are_unique_among_live_keys(parts: Parts) -> None:
    vault, *_ = parts
    key = await vault.create(
        org_id="org-a",
        provider="openai",
        name="Prod",
        secret=SecretValue("sk-" + "a" * 30),
        actor="u",
    )
    with pytest.raises(NameTakenError):
        await vault.create(
            org_id="org-a",
            provider="google",
            name="prod",
            secret=SecretValue("AIza" + "b" * 30),
            actor="u",
        )
    await vault.delete(org_id="org-a", key_id=key.id, actor="u")
    await vault.create(
        org_id="org-a",
        provider="google",
        name="prod",
        secret=SecretValue("AIza" + "b" * 30),
        actor="u",
    )


async def test_plan_limit_is_exact_and_deleting_frees_a_slot(parts: Parts) -> None:
    vault, *_ = parts
    results = await asyncio.gather(
        *(
            vault.create(
                org_id="org-l",
                provider="openai",
                name=f"k{n}",
                secret=SecretValue("sk-" + "c" * 30),
                actor="u",
            )
            for n in range(10)
        ),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, ProviderKey)]
    assert len(made) == 3
    assert all(
        isinstance(r, PlanLimitReachedError) for r in results if not isinstance(r, ProviderKey)
    )
    await vault.delete(org_id="org-l", key_id=made[0].id, actor="u")
    await vault.create(
        org_id="org-l",
        provider="openai",
        name="again",
        secret=SecretValue("sk-" + "c" * 30),
        actor="u",
    )
    vault.plans.apply(
        "org-l",
        OrgPlanChanged(
            org_id="org-l", plan="team", limits=PlanLimits(provider_keys=10, workspaces=25)
        ),
    )
    await vault.create(
        org_id="org-l",
        provider="openai",
        name="team",
        secret=SecretValue("sk-" + "c" * 30),
        actor="u",
    )


async def test_resolve_seals_to_the_recipient_only(parts: Parts) -> None:
    vault, store, *_ = parts
    key = await vault.create(
        org_id="org-a", provider="anthropic", name="k", secret=SecretValue(ANTHROPIC), actor="u"
    )
    assign(vault, "ws-1", "org-a", [key.id])
    private, public = new_recipient()
    resolved = await vault.resolve(
        org_id="org-a",
        workspace_id="ws-1",
        provider="anthropic",
        execution_id="ex-1",
        public_key=public,
        skip_key_ids=[],
        service="agent-runner",
    )
    context = seal_context(execution_id="ex-1", key_id=key.id)
    assert open_sealed(private, resolved.sealed, context).decode() == ANTHROPIC
    other, _ = new_recipient()
    with pytest.raises(SealError):
        open_sealed(other, resolved.sealed, context)
    with pytest.raises(SealError):
        open_sealed(private, resolved.sealed, seal_context(execution_id="ex-2", key_id=key.id))
    entry = store.audit[-1]
    assert (entry.action, entry.workspace_id, entry.execution_id, entry.actor) == (
        "resolved",
        "ws-1",
        "ex-1",
        "agent-runner",
    )
    await vault.drain()
    assert (await vault.get(org_id="org-a", key_id=key.id)).last_used_at is not None


async def test_resolution_is_scoped(parts: Parts) -> None:
    vault, _, _, directory = parts
    a1 = await vault.create(
        org_id="org-a", provider="anthropic", name="a1", secret=SecretValue(ANTHROPIC), actor="u"
    )
    a2 = await vault.create(
        org_id="org-a",
        provider="anthropic",
        name="a2",
        secret=SecretValue(ANTHROPIC + "x"),
        actor="u",
    )
    b1 = await vault.create(
        org_id="org-b",
        provider="anthropic",
        name="b1",
        secret=SecretValue(ANTHROPIC + "y"),
        actor="u",
    )
    assign(vault, "ws-a", "org-a", [a2.id, a1.id, b1.id])
    _, public = new_recipient()

    async def resolve(
        org: str, ws: str, provider: str = "anthropic", skip: list[str] | None = None
    ) -> str:
        got = await vault.resolve(
            org_id=org,
            workspace_id=ws,
            provider=provider,
            execution_id="e",
            public_key=public,
            skip_key_ids=skip or [],
            service="agent-runner",
        )
        return got.key_id

    assert await resolve("org-a", "ws-a") == a2.id  # workspace order
    assert await resolve("org-a", "ws-a", skip=[a2.id]) == a1.id
    with pytest.raises(NoMoreKeysError):
        await resolve("org-a", "ws-a", skip=[a2.id, a1.id])
    with pytest.raises(ProviderNotConfiguredError) as err:
        await resolve("org-a", "ws-a", provider="openai")
    assert "ws-a" in err.value.detail
    assert "openai" in err.value.detail
    with pytest.raises(ProviderNotConfiguredError):
        await resolve("org-b", "ws-a")  # another org's workspace
    with pytest.raises(ProviderNotConfiguredError):
        await resolve("org-a", "ws-other")
    assert directory.asked >= 3  # every "no" was confirmed with workspace
    await vault.delete(org_id="org-a", key_id=a2.id, actor="u")
    assert await resolve("org-a", "ws-a") == a1.id
    directory.answers["ws-new"] = Assignment(
        workspace_id="ws-new", org_id="org-a", key_ids=(a1.id,)
    )
    assert await resolve("org-a", "ws-new") == a1.id


async def test_rename_and_delete_of_missing_keys_answer_not_found(parts: Parts) -> None:
    vault, *_ = parts
    with pytest.raises(NotFoundError):
        await vault.rename(org_id="org-a", key_id="nope", name="x", actor="u")
    with pytest.raises(NotFoundError):
        await vault.delete(org_id="org-a", key_id="nope", actor="u")
    key = await vault.create(
        org_id="org-a", provider="openai", name="k", secret=SecretValue("sk-" + "d" * 30), actor="u"
    )
    with pytest.raises(NotFoundError):
        await vault.delete(org_id="org-b", key_id=key.id, actor="u")
    await vault.delete(org_id="org-a", key_id=key.id, actor="u")
    with pytest.raises(NotFoundError):
        await vault.delete(org_id="org-a", key_id=key.id, actor="u")
    assert (await vault.get(org_id="org-a", key_id=key.id)).status == "deleted"


async def test_republish_all_publishes_every_key_again_deleted_ones_too(parts: Parts) -> None:
    vault, _, events, _ = parts
    made = [
        await vault.create(
            org_id="org-a",
            provider="anthropic",
            name=f"k{n}",
            secret=SecretValue(ANTHROPIC + str(n)),
            actor="u1",
        )
        for n in range(3)
    ]
    await vault.delete(org_id="org-a", key_id=made[0].id, actor="u1")
    events.published.clear()
    assert await vault.republish_all(batch=2) == 3  # batches smaller than the key count
    latest = {k.id: k.status for k in events.published}
    assert latest == {made[0].id: "deleted", made[1].id: "active", made[2].id: "active"}


async def test_republish_all_fails_loudly_when_nothing_can_be_published(parts: Parts) -> None:
    vault, _, events, _ = parts
    await vault.create(
        org_id="org-a", provider="anthropic", name="k", secret=SecretValue(ANTHROPIC), actor="u1"
    )

    async def down(key: ProviderKey) -> None:
        raise ConnectionError("kafka down")

    events.publish = down  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="1 keys could not be published"):
        await vault.republish_all()


async def test_round_robin_routing_from_the_assignments_topic_spreads_resolutions(
    parts: Parts,
) -> None:
    vault, *_ = parts
    vault.plans.apply(
        "org-a",
        OrgPlanChanged(
            org_id="org-a", plan="x", limits=PlanLimits(provider_keys=10, workspaces=10)
        ),
    )
    keys = [
        await vault.create(
            org_id="org-a",
            provider="anthropic",
            name=f"k{i}",
            secret=SecretValue(f"{ANTHROPIC}{i}"),
            actor="u",
        )
        for i in range(3)
    ]
    ids = [k.id for k in keys]
    _, public = new_recipient()

    async def picks(n: int, skip: list[str] | None = None) -> list[str]:
        out = []
        for i in range(n):
            got = await vault.resolve(
                org_id="org-a",
                workspace_id="ws-1",
                provider="anthropic",
                execution_id=f"ex-{i}",
                public_key=public,
                skip_key_ids=skip or [],
                service="agent-runner",
            )
            out.append(got.key_id)
        return out

    assign(vault, "ws-1", "org-a", ids)
    assert set(await picks(6)) == {ids[0]}  # ordered: the default
    vault.assignments.apply(
        "ws-1",
        WorkspaceAssignmentsChanged(
            workspace_id="ws-1",
            org_id="org-a",
            key_ids=ids,
            routing={"anthropic": ProviderRouting(strategy="round_robin", weights={ids[0]: 2})},
        ),
    )
    counted = Counter(await picks(400))
    assert counted == {ids[0]: 200, ids[1]: 100, ids[2]: 100}
    assert set(await picks(10, skip=[ids[0]])) == {ids[1], ids[2]}  # failover still skips
    await vault.drain()
