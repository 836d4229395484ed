"""The dedupe store on the real FerretDB: claims, group-committed results, redelivery."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from agent_runner import domain
from agent_runner.store import MongoDedupeStore
from shared.contracts import ErrorCode, ExecutionRequested, ExecutionResult

pytestmark = pytest.mark.integration


def a_result(execution_id: str, message: str = "first", org_id: str = "org-a") -> ExecutionResult:
    request = ExecutionRequested.model_validate(
        {
            "execution_id": execution_id,
            "org_id": org_id,
            "workspace_id": "ws-1",
            "model": "claude-haiku-4-5",
            "input": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8},
        }
    )
    return domain.failed(
        request,
        code=ErrorCode.PROVIDER_UNAVAILABLE,
        message=message,
        provider="anthropic",
        key_id=None,
        attempts=1,
        duration_ms=1,
    )


async def test_claims_results_and_redelivery(mongo_url: str, db_name: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    store = MongoDedupeStore(client, db_name)
    try:
        await store.open()
        ids = [f"exec-{n}" for n in range(40)]
        # A fetched batch: every new execution is claimed in one write and is not known.
        assert (
            await asyncio.gather(*(store.claim(org_id="org-a", execution_id=i) for i in ids))
            == [None] * 40
        )
        assert store.claims.batches == 1
        # Results finishing together are stored in one write, each caller gets its own back.
        stored = await asyncio.gather(*(store.put(result=a_result(i)) for i in ids))
        assert [r.execution_id for r in stored] == ids
        assert store.inserts.batches == 1
        assert await client[db_name]["results"].count_documents({}) == 40
        # Redelivered: the stored result comes back, nothing is executed again.
        again = await store.claim(org_id="org-a", execution_id="exec-7")
        assert again is not None
        assert again.execution_id == "exec-7"
        assert again.error is not None
        assert again.error.message == "first"
        # Claimed but never finished (the attempt failed and released it): run it again.
        # (While an attempt of this runner still holds it, another copy waits: test_lease.)
        assert await store.claim(org_id="org-a", execution_id="exec-lost") is None
        store.release(org_id="org-a", execution_id="exec-lost")
        assert await store.claim(org_id="org-a", execution_id="exec-lost") is None
        # A second result for a finished execution: the stored one wins, twice in a batch too.
        late = await store.put(result=a_result("exec-3", "second"))
        assert late.error is not None
        assert late.error.message == "first"
        pair = await asyncio.gather(
            store.put(result=a_result("exec-new", "a")), store.put(result=a_result("exec-new", "b"))
        )
        assert pair[0].error is not None
        assert pair[1].error is not None
        assert pair[0].error.message == pair[1].error.message == "a"
    finally:
        await store.close()


async def test_the_same_execution_id_in_two_orgs_is_two_executions(
    mongo_url: str, db_name: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    store = MongoDedupeStore(client, db_name)
    try:
        await store.open()
        # An id stored the old way (keyed by the execution id alone) answers no org.
        await client[db_name]["claims"].insert_one({"_id": "exec-x"})
        old = a_result("exec-x", "legacy")
        await client[db_name]["results"].insert_one(
            {"_id": "exec-x", "result": old.model_dump(mode="json"), "at": old.occurred_at}
        )
        assert await store.claim(org_id="org-a", execution_id="exec-x") is None
        assert await store.claim(org_id="org-b", execution_id="exec-x") is None
        mine = await store.put(result=a_result("exec-x", "a's", org_id="org-a"))
        theirs = await store.put(result=a_result("exec-x", "b's", org_id="org-b"))
        assert (mine.org_id, theirs.org_id) == ("org-a", "org-b")
        for org, message in (("org-a", "a's"), ("org-b", "b's")):
            again = await store.claim(org_id=org, execution_id="exec-x")
            assert again is not None
            assert again.org_id == org
            assert again.error is not None
            assert again.error.message == message
        # Both in one batch: each org claims its own.
        both = await asyncio.gather(
            store.claim(org_id="org-c", execution_id="exec-y"),
            store.claim(org_id="org-d", execution_id="exec-y"),
        )
        assert list(both) == [None, None]
    finally:
        await store.close()


async def test_only_leases_that_are_due_are_renewed(mongo_url: str, db_name: str) -> None:
    """An execution shorter than a third of the lease is never renewed (no write to
    `claims` while it runs: on FerretDB an `_id $in` update scans every retained claim); one
    that runs longer is renewed once two thirds of its lease or less is left."""
    from datetime import UTC, datetime, timedelta

    from pymongo import monitoring

    class Updates(monitoring.CommandListener):
        def __init__(self) -> None:
            self.seen: list[dict[str, Any]] = []

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            if event.command_name == "update" and event.command.get("update") == "claims":
                self.seen.append(dict(event.command))

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...
        def failed(self, event: monitoring.CommandFailedEvent) -> None: ...

    shift = timedelta()

    def clock() -> datetime:
        return datetime.now(UTC) + shift

    updates = Updates()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_url, tz_aware=True, event_listeners=[updates]
    )
    store = MongoDedupeStore(
        client, db_name, owner="runner-a", lease_s=30.0, poll_s=0.02, clock=clock
    )
    try:
        await store.open()
        assert await store.claim(org_id="org-a", execution_id="short") is None
        assert await store.claim(org_id="org-a", execution_id="long") is None
        shift = timedelta(seconds=5)
        await asyncio.sleep(0.3)  # the keeper has looked about fifteen times
        store.release(org_id="org-a", execution_id="short")  # "short" ended within 10 s
        shift = timedelta(seconds=9)
        assert await store.claim(org_id="org-a", execution_id="fresh") is None
        await asyncio.sleep(0.1)
        assert updates.seen == []
        shift = timedelta(seconds=11)  # "long" has 19 s of its lease left: due; "fresh" 28 s
        async with asyncio.timeout(10):
            while not updates.seen:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert len(updates.seen) == 1  # renewed once, not again while 30 s are left
        (statement,) = updates.seen[0]["updates"]
        assert statement["q"]["_id"] == {"$in": ["org-a/long"]}
        stored = await client[db_name]["claims"].find_one({"_id": "org-a/long"})
        assert stored is not None
        assert stored["lease_until"] > datetime.now(UTC) + timedelta(seconds=35)
    finally:
        await store.close()
        c: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
        await c.drop_database(db_name)
        await c.close()
