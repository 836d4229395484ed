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
