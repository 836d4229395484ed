"""Key quota drift against the real store (FerretDB): a downgrade below the key count, and a
process killed between taking the slot and inserting the key (issue 12, fix 5)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from keyvault.domain import AssignmentsView, PlanLimitReachedError, PlansView, ProviderKey
from keyvault.service import Vault
from keyvault.service.envelope import LocalKeyring, new_version_entry
from keyvault.store import MongoKeyStore
from shared.contracts import OrgPlanChanged, PlanLimits
from shared.crypto import SecretValue

pytestmark = pytest.mark.integration

GRACE_S = 0.5


class KilledError(BaseException):
    """The process dies here: nothing after it runs, no `except`/`finally` cleans up."""


class CrashingKeyStore(MongoKeyStore):
    """The real store; `crash_after_slot` kills the create right after its slot is taken."""

    crash_after_slot = False

    async def acquire_slot(self, *, org_id: str, limit: int | None, key_id: str) -> bool:
        taken = await super().acquire_slot(org_id=org_id, limit=limit, key_id=key_id)
        if taken and self.crash_after_slot:
            self.crash_after_slot = False
            raise KilledError
        return taken

    dead_release = False

    async def release_slot(self, *, org_id: str, key_id: str) -> None:
        if not self.dead_release:
            await super().release_slot(org_id=org_id, key_id=key_id)


class NoEvents:
    async def publish(self, key: ProviderKey) -> None:
        return None


@pytest.fixture
async def store(mongo_url: str, db_name: str) -> AsyncIterator[CrashingKeyStore]:
    s = CrashingKeyStore(mongo_url, db_name, slot_grace_s=GRACE_S)
    await s.open()
    yield s
    await s._client.drop_database(db_name)
    await s.close()


def vault_over(store: MongoKeyStore, plans: PlansView) -> Vault:
    return Vault(
        store=store,
        keyring=LocalKeyring([new_version_entry("q-")]),
        events=NoEvents(),
        assignments=AssignmentsView(),
        plans=plans,
    )


def set_limit(plans: PlansView, org: str, keys: int | None) -> None:
    limits = PlanLimits(provider_keys=keys, workspaces=None)
    plans.apply(org, OrgPlanChanged(org_id=org, plan="p", limits=limits))


async def create(vault: Vault, org: str, name: str) -> ProviderKey:
    secret = SecretValue("sk-proj-" + "q" * 30)
    return await vault.create(org_id=org, provider="openai", name=name, secret=secret, actor="u")


async def test_a_key_create_killed_after_its_slot_leaks_nothing_after_the_grace(
    store: CrashingKeyStore,
) -> None:
    vault = vault_over(store, PlansView(3))
    await create(vault, "org-k", "a")
    await create(vault, "org-k", "b")
    store.crash_after_slot = True
    with pytest.raises(KilledError):
        await create(vault, "org-k", "dies")
    assert await store.count_active(org_id="org-k") == 2
    with pytest.raises(PlanLimitReachedError):
        await create(vault, "org-k", "too soon")  # the insert could still be on its way
    await asyncio.sleep(GRACE_S + 0.2)
    await create(vault, "org-k", "c")  # the leaked slot came back
    with pytest.raises(PlanLimitReachedError):
        await create(vault, "org-k", "d")
    assert await store.count_active(org_id="org-k") == 3


async def test_a_delete_killed_before_its_release_frees_the_slot_after_the_grace(
    store: CrashingKeyStore,
) -> None:
    vault = vault_over(store, PlansView(1))
    key = await create(vault, "org-d", "a")
    store.dead_release = True
    await vault.delete(org_id="org-d", key_id=key.id, actor="u")
    store.dead_release = False
    await asyncio.sleep(GRACE_S + 0.2)
    await create(vault, "org-d", "b")


async def test_a_downgrade_below_the_key_count_admits_nothing_until_under_the_limit(
    store: CrashingKeyStore,
) -> None:
    plans = PlansView(3)
    vault = vault_over(store, plans)
    org = "org-down"
    set_limit(plans, org, None)  # unlimited: keys take no slot
    keys = [await create(vault, org, f"k{n}") for n in range(4)]
    set_limit(plans, org, 2)
    with pytest.raises(PlanLimitReachedError):
        await create(vault, org, "over")
    await vault.delete(org_id=org, key_id=keys[0].id, actor="u")
    await vault.delete(org_id=org, key_id=keys[1].id, actor="u")
    with pytest.raises(PlanLimitReachedError):
        await create(vault, org, "at")  # 2 left, limit 2: deleting freed nothing yet
    await vault.delete(org_id=org, key_id=keys[2].id, actor="u")
    results = await asyncio.gather(
        *(create(vault, org, f"race {n}") for n in range(8)), return_exceptions=True
    )
    assert sum(isinstance(r, ProviderKey) for r in results) == 1
    assert all(isinstance(r, ProviderKey | PlanLimitReachedError) for r in results)
    assert await store.count_active(org_id=org) == 2
