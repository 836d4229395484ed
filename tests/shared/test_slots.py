"""Quota slots against a real FerretDB/MongoDB: downgrades, crashes, races (issue 12, fix 5)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from shared.mongo import Slots

pytestmark = pytest.mark.integration

ORG = "org-q"


class World:
    """An org's holders (keys or workspaces) as their own collection would report them."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self.live: set[str] = set()
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.slots = Slots(
            collection,
            holder_field="holder",
            live_holders=self.live_holders,
            grace=timedelta(seconds=60),
            clock=lambda: self.now,
        )

    async def live_holders(self, org_id: str) -> set[str]:
        return set(self.live)

    async def create(self, holder: str, limit: int | None) -> bool:
        """Slot, then the holder's insert, as keyvault and workspace do."""
        if not await self.slots.take(org_id=ORG, holder=holder, limit=limit):
            return False
        await asyncio.sleep(0)
        self.live.add(holder)
        return True

    async def delete(self, holder: str) -> None:
        self.live.discard(holder)
        await self.slots.release(org_id=ORG, holder=holder)

    async def slot_holders(self) -> list[str]:
        return sorted([d["holder"] async for d in self.collection.find({"org_id": ORG})])


@pytest.fixture
async def world(mongo_url: str, db_name: str) -> AsyncIterator[World]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    w = World(client[db_name]["slots"])
    await w.slots.open()
    yield w
    await client.drop_database(db_name)
    await client.close()


async def test_downgrade_below_the_count_admits_nothing_until_under_the_new_limit(
    world: World,
) -> None:
    for n in range(5):
        assert await world.create(f"h{n}", limit=5)
    # Downgraded to 3 while 5 exist: refused, and deleting frees nothing until under 3.
    assert not await world.create("x", limit=3)
    for n in range(3):
        await world.delete(f"h{n}")  # the remaining two hold slots #3 and #4
        assert n == 2 or not await world.create(f"y{n}", limit=3)
    # Two exist, the limit is 3: exactly one of many concurrent creates gets in.
    results = await asyncio.gather(*(world.create(f"z{n}", limit=3) for n in range(10)))
    assert sum(results) == 1
    assert len(world.live) == 3
    assert not await world.create("late", limit=3)
    assert len(await world.slot_holders()) == 3  # one slot each, all below the limit


async def test_holders_from_an_unlimited_plan_count_after_a_downgrade(world: World) -> None:
    for n in range(4):
        assert await world.create(f"u{n}", limit=None)  # unlimited: no slot at all
    assert not await world.create("x", limit=2)
    await world.delete("u0")
    await world.delete("u1")
    assert not await world.create("x", limit=2)
    await world.delete("u2")
    results = await asyncio.gather(*(world.create(f"z{n}", limit=2) for n in range(6)))
    assert sum(results) == 1
    assert len(world.live) == 2


async def test_a_crash_between_slot_and_insert_leaks_nothing_after_the_grace(
    world: World,
) -> None:
    assert await world.create("a", limit=2)
    # The process dies after taking the slot, before inserting "ghost": no release runs.
    assert await world.slots.take(org_id=ORG, holder="ghost", limit=2)
    assert not await world.create("b", limit=2)  # within the grace the insert may be coming
    world.now += timedelta(seconds=61)
    assert await world.create("b", limit=2)
    assert await world.slot_holders() == ["a", "b"]
    assert not await world.create("c", limit=2)


async def test_a_crash_below_the_limit_is_reconciled_by_the_next_create(world: World) -> None:
    assert await world.slots.take(org_id=ORG, holder="ghost", limit=3)
    world.now += timedelta(seconds=61)
    assert await world.create("a", limit=3)
    assert await world.slot_holders() == ["a"]  # the leaked slot went with the next create


async def test_an_old_slot_of_an_existing_holder_is_never_reclaimed(world: World) -> None:
    assert await world.create("a", limit=2)
    assert await world.create("b", limit=2)
    world.now += timedelta(days=30)
    assert not await world.create("c", limit=2)
    assert await world.slot_holders() == ["a", "b"]


async def test_a_delete_that_crashed_before_its_release_frees_the_slot_later(
    world: World,
) -> None:
    assert await world.create("a", limit=1)
    world.live.discard("a")  # deleted; the process died before release_slot
    world.now += timedelta(seconds=61)
    assert await world.create("b", limit=1)
    assert await world.slot_holders() == ["b"]


async def test_concurrent_creates_at_the_limit_never_exceed_it(world: World) -> None:
    results = await asyncio.gather(*(world.create(f"r{n}", limit=3) for n in range(25)))
    assert sum(results) == 3
    assert len(await world.slot_holders()) == 3
