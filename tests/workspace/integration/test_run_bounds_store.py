"""Test-run bounds on the real store (FerretDB): concurrent first uses of one
Idempotency-Key bind exactly one execution, expired claims are taken over, and the per-org
window takes exactly its limit of runs under concurrency (shared by every gateway replica)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from workspace.domain import IdempotencyClaim
from workspace.store import MongoRunBoundsStore

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def store(mongo_url: str, db_name: str) -> AsyncIterator[MongoRunBoundsStore]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    bounds = MongoRunBoundsStore(client, db_name)
    await bounds.open()
    yield bounds
    await client.drop_database(db_name)
    await client.close()


def claim(execution_id: str, *, key: str = "K", at: datetime = NOW) -> IdempotencyClaim:
    return IdempotencyClaim(
        org_id="org-a",
        key=key,
        body_hash="h",
        execution_id=execution_id,
        workspace_id="ws-1",
        created_at=at,
        expires_at=at + timedelta(hours=24),
    )


async def test_concurrent_first_uses_bind_one_execution(store: MongoRunBoundsStore) -> None:
    won = await asyncio.gather(*(store.claim(claim=claim(f"e{i}"), now=NOW) for i in range(20)))
    assert len({c.execution_id for c in won}) == 1
    found = await store.find_claim(org_id="org-a", key="K")
    assert found is not None
    assert found.execution_id == won[0].execution_id


async def test_an_expired_claim_is_taken_over_and_release_needs_the_execution(
    store: MongoRunBoundsStore,
) -> None:
    old = NOW - timedelta(hours=25)
    await store.claim(claim=claim("e-old", at=old), now=old)
    fresh = await store.claim(claim=claim("e-new"), now=NOW)
    assert fresh.execution_id == "e-new"
    await store.release(org_id="org-a", key="K", execution_id="e-old")  # not its claim now
    assert (await store.find_claim(org_id="org-a", key="K")) is not None
    await store.release(org_id="org-a", key="K", execution_id="e-new")
    assert (await store.find_claim(org_id="org-a", key="K")) is None
    await store.claim(claim=claim("e-gone", key="K2", at=old), now=old)
    assert await store.prune(now=NOW) >= 1
    assert (await store.find_claim(org_id="org-a", key="K2")) is None


async def test_rate_slots_are_exact_under_concurrency(store: MongoRunBoundsStore) -> None:
    start = NOW.replace(second=0)
    later = start + timedelta(minutes=2)
    taken = await asyncio.gather(
        *(
            store.take_run_slot(org_id="org-a", window_start=start, limit=10, expires_at=later)
            for _ in range(25)
        )
    )
    assert taken.count(True) == 10
    assert await store.take_run_slot(org_id="org-b", window_start=start, limit=10, expires_at=later)
    nxt = start + timedelta(minutes=1)
    assert await store.take_run_slot(org_id="org-a", window_start=nxt, limit=10, expires_at=later)


async def test_rate_slots_are_exact_across_replicas(
    store: MongoRunBoundsStore, mongo_url: str, db_name: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    other = MongoRunBoundsStore(client, db_name)  # a second workspace process, its own hints
    start = NOW.replace(second=0)
    later = start + timedelta(minutes=2)
    try:
        taken = await asyncio.gather(
            *(
                replica.take_run_slot(
                    org_id="org-r", window_start=start, limit=12, expires_at=later
                )
                for _ in range(15)
                for replica in (store, other)
            )
        )
        assert taken.count(True) == 12
    finally:
        await client.close()
