"""Group-committed audit entries, coalesced last_used_at and bounded store retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from keyvault.domain import AssignmentsView, AuditEntry, PlansView, StoreUnavailableError
from keyvault.service import Vault
from keyvault.service.envelope import LocalKeyring, new_version_entry
from keyvault.service.recording import LastUsed
from keyvault.store import MongoKeyStore
from shared.batching import GroupCommit
from shared.contracts import WorkspaceAssignmentsChanged
from shared.crypto import SecretValue, new_recipient
from shared.mongo import is_transient
from tests.keyvault.fakes import InMemoryKeyStore

SECRET = "sk-ant-api03-recording-unit-0123456789"


class GatedStore(InMemoryKeyStore):
    """Audit writes wait for `gate`; every batch written is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.audit_batches: list[int] = []
        self.touches: list[tuple[str, datetime]] = []

    async def add_audits(self, *, entries: list[AuditEntry]) -> None:
        await self.gate.wait()
        self.audit_batches.append(len(entries))
        await super().add_audits(entries=entries)

    async def touch_last_used(self, *, key_id: str, at: datetime) -> None:
        self.touches.append((key_id, at))
        await super().touch_last_used(key_id=key_id, at=at)


async def vault_with_key(store: GatedStore, *, interval: float = 60.0) -> tuple[Vault, str]:
    assignments = AssignmentsView()
    vault = Vault(
        store=store,
        keyring=LocalKeyring([new_version_entry("t-")]),
        events=_NoEvents(),
        assignments=assignments,
        plans=PlansView(None),
        last_used_interval_s=interval,
    )
    key = await vault.create(
        org_id="org-a", provider="anthropic", name="k", secret=SecretValue(SECRET), actor="u"
    )
    assignments.apply(
        "ws-1", WorkspaceAssignmentsChanged(workspace_id="ws-1", org_id="org-a", key_ids=[key.id])
    )
    return vault, key.id


class _NoEvents:
    async def publish(self, key: object) -> None:
        return None


async def resolve(vault: Vault, n: int) -> object:
    _, public = new_recipient()
    return await vault.resolve(
        org_id="org-a",
        workspace_id="ws-1",
        provider="anthropic",
        execution_id=f"exec-{n}",
        public_key=public,
        skip_key_ids=[],
        service="agent-runner",
    )


async def test_concurrent_resolutions_share_one_audit_write_and_wait_for_it() -> None:
    store = GatedStore()
    vault, _ = await vault_with_key(store)
    store.audit_batches.clear()
    store.gate.clear()
    tasks = [asyncio.create_task(resolve(vault, n)) for n in range(20)]
    await asyncio.sleep(0.05)
    # The audit write is held back: no key may have been released yet.
    assert not any(t.done() for t in tasks)
    assert not [e for e in store.audit if e.action == "resolved"]
    store.gate.set()
    await asyncio.gather(*tasks)
    resolved = [e for e in store.audit if e.action == "resolved"]
    assert sorted(e.execution_id or "" for e in resolved) == sorted(f"exec-{n}" for n in range(20))
    assert store.audit_batches == [20]


async def test_failed_audit_write_releases_no_key() -> None:
    class Broken(GatedStore):
        async def add_audits(self, *, entries: list[AuditEntry]) -> None:
            if any(e.action == "resolved" for e in entries):
                raise StoreUnavailableError("busy")
            await super().add_audits(entries=entries)

    store = Broken()
    vault, _ = await vault_with_key(store)
    with pytest.raises(StoreUnavailableError):
        await resolve(vault, 1)


async def test_last_used_is_coalesced_and_written_on_drain() -> None:
    store = GatedStore()
    vault, key_id = await vault_with_key(store, interval=60.0)
    await resolve(vault, 0)
    await asyncio.sleep(0.01)
    assert len(store.touches) == 1  # a first use is written at once
    await asyncio.gather(*(resolve(vault, n) for n in range(1, 50)))
    await asyncio.sleep(0.01)
    assert len(store.touches) == 1  # the next 49 wait for the interval (or shutdown)
    await vault.drain()
    assert len(store.touches) == 2
    latest = max(e.at for e in store.audit if e.action == "resolved")
    key = await vault.get(org_id="org-a", key_id=key_id)
    assert key.last_used_at == latest


async def test_last_used_is_written_at_most_once_per_key_per_interval() -> None:
    store = GatedStore()
    vault, key_id = await vault_with_key(store, interval=0.2)
    start = asyncio.get_running_loop().time()
    while asyncio.get_running_loop().time() - start < 0.5:
        await resolve(vault, 0)
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.25)
    times = [at for _, at in store.touches]
    assert 2 <= len(times) <= 4  # 0.5 s of uses at 0.2 s per write: about 3
    assert times == sorted(times)
    assert (await vault.get(org_id="org-a", key_id=key_id)).last_used_at == max(
        e.at for e in store.audit if e.action == "resolved"
    )
    await vault.drain()
    assert len(store.touches) == len(times)  # nothing was left to write


async def test_last_used_keeps_a_failed_write_for_the_next_flush() -> None:
    class Flaky(GatedStore):
        fail = True

        async def touch_last_used(self, *, key_id: str, at: datetime) -> None:
            if self.fail:
                self.fail = False
                raise StoreUnavailableError("busy")
            await super().touch_last_used(key_id=key_id, at=at)

    store = Flaky()
    last = LastUsed(store)
    at = datetime.now(UTC)
    last.note("k1", at - timedelta(seconds=1))
    last.note("k1", at)
    await last.flush()
    assert store.touches == []
    await last.flush()
    assert store.touches == [("k1", at)]


async def test_group_commit_batches_what_arrives_during_a_write() -> None:
    seen: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        seen.append(items)
        if len(seen) == 1:
            await release.wait()
        return [i * 2 for i in items]

    commit: GroupCommit[int, int] = GroupCommit(flush, max_batch=100)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(commit.submit(i)) for i in range(2, 12)]
    await asyncio.sleep(0.01)
    assert not first.done()
    release.set()
    assert await first == 2
    assert [await t for t in later] == [i * 2 for i in range(2, 12)]
    assert seen == [[1], list(range(2, 12))]


async def test_group_commit_failure_reaches_every_caller_of_the_batch() -> None:
    async def flush(items: list[int]) -> list[int]:
        raise RuntimeError("down")

    commit: GroupCommit[int, int] = GroupCommit(flush)
    results = await asyncio.gather(*(commit.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


# --- transient store errors ------------------------------------------------------------------


def test_transient_errors_are_recognised() -> None:
    assert is_transient(OperationFailure("database is locked (5) (SQLITE_BUSY)", 1))
    assert is_transient(AutoReconnect("primary stepped down"))
    assert is_transient(OperationFailure("not primary", 10107))
    assert not is_transient(OperationFailure("UNIQUE constraint failed", 1))
    assert not is_transient(OperationFailure("bad query", 2))


async def test_store_retries_transient_errors_then_answers_store_unavailable() -> None:
    store = MongoKeyStore("mongodb://127.0.0.1:1", "unused", retries=3, backoff_base_s=0.0)
    calls = 0

    async def locked() -> int:
        nonlocal calls
        calls += 1
        raise OperationFailure("database is locked", 1)

    with pytest.raises(StoreUnavailableError) as caught:
        await store._retrying(locked, "probe")
    assert calls == 4
    assert caught.value.status == 503
    assert caught.value.code == "store_unavailable"

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls < 7:
            raise AutoReconnect("blip")
        return 42

    assert await store._retrying(flaky, "probe") == 42

    async def wrong() -> int:
        raise OperationFailure("bad query", 2)

    with pytest.raises(OperationFailure):
        await store._retrying(wrong, "probe")
    await store.close()


async def test_group_commit_runs_up_to_its_concurrency_of_flushes() -> None:
    gates = [asyncio.Event() for _ in range(4)]
    gates[3].set()
    seen: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        seen.append(items)
        await gates[len(seen) - 1].wait()
        return items

    commit: GroupCommit[int, int] = GroupCommit(flush, concurrency=2)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(commit.submit(2))  # the first flush is busy: a second starts
    await asyncio.sleep(0.01)
    third = [asyncio.create_task(commit.submit(i)) for i in (3, 4)]  # both busy: they wait
    await asyncio.sleep(0.01)
    assert seen == [[1], [2]]
    gates[1].set()
    assert await second == 2
    await asyncio.sleep(0.01)
    assert seen == [[1], [2], [3, 4]]  # the freed flusher took the waiting ones together
    gates[2].set()
    assert [await t for t in third] == [3, 4]
    assert not first.done()
    gates[0].set()
    assert await first == 1
    await commit.close()
    assert commit.batches == 3
    late = await commit.submit(5)  # after everything drained, a new flush starts
    assert late == 5
