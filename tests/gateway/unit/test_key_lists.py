"""The gateway's reuse of an org's key list (`GET /ai-providers`): never stale metadata.

Reused only while no change to the org's keys has been seen on keyvault.keys.v1 (the fence
proves the view current first) and for at most the TTL; concurrent misses share one read;
a read model that cannot prove itself current means a read from keyvault every time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gateway.domain import ReadModelsBehindError, WorkspaceModelsView
from gateway.service import KeyLists
from shared.contracts import ProviderKeyChanged


class Fence:
    def __init__(self) -> None:
        self.behind = False
        self.checks = 0

    async def check(self) -> None:
        self.checks += 1
        if self.behind:
            raise ReadModelsBehindError("behind")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Keyvault:
    """Counts reads; each answers a new list (its number), optionally after a pause."""

    def __init__(self) -> None:
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def read(self) -> dict[str, int]:
        self.reads += 1
        n = self.reads
        if self.gate is not None:
            await self.gate.wait()
        return {"read": n}


def key_event(org: str, key_id: str, name: str = "k") -> ProviderKeyChanged:
    return ProviderKeyChanged(
        key_id=key_id,
        org_id=org,
        provider="anthropic",
        name=name,
        preview="sk-ant-…abcd",
        status="active",
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
        created_by="u",
    )


@pytest.fixture
def parts() -> tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault]:
    view, fence, clock = WorkspaceModelsView(), Fence(), Clock()
    return KeyLists(view, fence, ttl_s=1.0, clock=clock), view, fence, clock, Keyvault()


async def test_a_list_is_reused_within_the_ttl_and_read_again_after(
    parts: tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault],
) -> None:
    lists, _, fence, clock, kv = parts
    assert await lists.list("org-a", kv.read) == {"read": 1}
    clock.now += 0.9
    assert await lists.list("org-a", kv.read) == {"read": 1}
    assert fence.checks == 2  # every answer passes the fence, cached or not
    clock.now += 0.2
    assert await lists.list("org-a", kv.read) == {"read": 2}


async def test_a_change_to_the_orgs_keys_on_the_topic_makes_the_next_answer_a_fresh_read(
    parts: tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault],
) -> None:
    lists, view, _, _, kv = parts
    await lists.list("org-a", kv.read)
    await lists.list("org-b", kv.read)
    view.apply_key("k1", key_event("org-a", "k1", name="renamed"))
    assert await lists.list("org-a", kv.read) == {"read": 3}
    assert await lists.list("org-b", kv.read) == {"read": 2}  # another org's change: kept
    view.apply_key("k1", None)  # a tombstone of a known key: its org's lists
    assert await lists.list("org-a", kv.read) == {"read": 4}
    view.apply_key("k-unknown", None)  # a tombstone of a key never seen: every org's
    assert await lists.list("org-b", kv.read) == {"read": 5}


async def test_a_change_seen_while_the_read_was_in_flight_outdates_it_at_once(
    parts: tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault],
) -> None:
    lists, view, _, _, kv = parts
    kv.gate = asyncio.Event()
    first = asyncio.create_task(lists.list("org-a", kv.read))
    await asyncio.sleep(0)
    view.apply_key("k1", key_event("org-a", "k1"))
    kv.gate.set()
    assert await first == {"read": 1}
    assert await lists.list("org-a", kv.read) == {"read": 2}


async def test_this_gateways_own_write_makes_the_next_answer_a_fresh_read(
    parts: tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault],
) -> None:
    lists, _, _, _, kv = parts
    await lists.list("org-a", kv.read)
    lists.forget("org-a")
    assert await lists.list("org-a", kv.read) == {"read": 2}


async def test_concurrent_misses_of_one_org_share_one_read(
    parts: tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault],
) -> None:
    lists, _, _, _, kv = parts
    kv.gate = asyncio.Event()
    waiting = [asyncio.create_task(lists.list("org-a", kv.read)) for _ in range(20)]
    await asyncio.sleep(0)
    kv.gate.set()
    assert await asyncio.gather(*waiting) == [{"read": 1}] * 20
    assert kv.reads == 1


async def test_a_failed_read_is_every_waiters_answer_and_is_not_kept(
    parts: tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault],
) -> None:
    lists, _, _, _, _ = parts
    gate = asyncio.Event()

    async def down() -> dict[str, int]:
        await gate.wait()
        raise RuntimeError("keyvault is unavailable")

    waiting = [asyncio.create_task(lists.list("org-a", down)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    kv = Keyvault()
    assert await lists.list("org-a", kv.read) == {"read": 1}


async def test_without_a_current_read_model_every_answer_is_read_from_keyvault(
    parts: tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault],
) -> None:
    lists, _, fence, _, kv = parts
    await lists.list("org-a", kv.read)
    fence.behind = True
    assert await lists.list("org-a", kv.read) == {"read": 2}
    assert await lists.list("org-a", kv.read) == {"read": 3}


async def test_a_write_through_this_gateway_during_a_read_outdates_that_read(
    parts: tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault],
) -> None:
    lists, _, _, _, kv = parts
    kv.gate = asyncio.Event()
    first = asyncio.create_task(lists.list("org-a", kv.read))
    await asyncio.sleep(0)
    lists.forget("org-a")  # e.g. a rename answered while the list was being read
    kv.gate.set()
    assert await first == {"read": 1}
    assert await lists.list("org-a", kv.read) == {"read": 2}


async def test_a_cancelled_caller_does_not_cancel_the_shared_read(
    parts: tuple[KeyLists, WorkspaceModelsView, Fence, Clock, Keyvault],
) -> None:
    lists, _, _, _, kv = parts
    kv.gate = asyncio.Event()
    first = asyncio.create_task(lists.list("org-a", kv.read))
    await asyncio.sleep(0)
    second = asyncio.create_task(lists.list("org-a", kv.read))
    await asyncio.sleep(0)
    first.cancel()
    kv.gate.set()
    assert await second == {"read": 1}
    assert kv.reads == 1
