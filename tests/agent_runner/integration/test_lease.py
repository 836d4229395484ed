"""Claims carry an owner and a lease (issue 12, fix 3), through the real FerretDB, keyvault,
simulator and Kafka: a second runner that gets a request whose claim another live runner
holds calls no provider and publishes that runner's result; once the holder is gone (no more
renewals) and its lease has expired, the second runner takes over and executes it once.

Correctness, not timing: the lease expiry is reached by moving the second runner's clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from agent_runner import domain
from agent_runner.app import Runner
from agent_runner.store import MongoDedupeStore
from shared.contracts import ErrorCode, ExecutionRequested, ExecutionResult
from tests.agent_runner.integration.conftest import Stack

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


def calls_for(stack: Stack, execution_id: str) -> int:
    sha = hashlib.sha256(f"Hello ({execution_id})".encode()).hexdigest()
    return sum(1 for r in stack.sim.records if r.get("prompt_sha256") == sha)


def request(execution_id: str, org: str, ws: str) -> ExecutionRequested:
    return ExecutionRequested.model_validate(
        {
            "execution_id": execution_id,
            "org_id": org,
            "workspace_id": ws,
            "model": "claude-haiku-4-5",
            "input": {"messages": [{"role": "user", "content": f"Hello ({execution_id})"}]},
        }
    )


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_live_lease_is_waited_for_and_an_expired_one_taken_over(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "anthropic", "sk-ant-api03-lease-test-LLLLLLLLLLLL7777")
    await stack.assign(org, ws, [key])
    settings = stack.runner_settings(runner_claim_poll_s=0.05)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    holder = MongoDedupeStore(
        AsyncMongoClient(stack.mongo_url, tz_aware=True),
        settings.runner_db,
        owner="runner-a",
        lease_s=30.0,
    )
    clock = Clock()
    other = MongoDedupeStore(
        AsyncMongoClient(stack.mongo_url, tz_aware=True),
        settings.runner_db,
        owner="runner-b",
        lease_s=30.0,
        poll_s=0.05,
        clock=clock,
    )
    runner = Runner(settings, store=other)
    await holder.open()
    await other.open()
    await runner.publisher.start()
    try:
        # 1. runner-a holds the claim (it is executing); runner-b gets the same request.
        first = f"exec-held-{uuid.uuid4().hex[:8]}"
        assert await holder.claim(org_id=org, execution_id=first) is None
        waiting = asyncio.create_task(runner.handler.handle(request(first, org, ws)))
        await until(lambda: other.waits >= 1)
        await asyncio.sleep(0.3)  # several polls: the lease is live, so still no call
        assert not waiting.done()
        assert calls_for(stack, first) == 0
        theirs: ExecutionResult = domain.failed(
            request(first, org, ws),
            code=ErrorCode.PROVIDER_UNAVAILABLE,
            message="runner-a's result",
            provider="anthropic",
            key_id=key,
            attempts=1,
            duration_ms=5,
        )
        await holder.put(result=theirs)
        await waiting
        published = (await stack.wait_results({first}))[first]
        assert published.error is not None
        assert published.error.message == "runner-a's result"
        assert calls_for(stack, first) == 0

        # 2. runner-a dies holding the claim of another execution: no more renewals.
        second = f"exec-orphan-{uuid.uuid4().hex[:8]}"
        assert await holder.claim(org_id=org, execution_id=second) is None
        await holder.close()
        waits = other.waits
        taking_over = asyncio.create_task(runner.handler.handle(request(second, org, ws)))
        await until(lambda: other.waits > waits)
        await asyncio.sleep(0.3)
        assert not taking_over.done()
        assert calls_for(stack, second) == 0
        clock.shift = timedelta(seconds=31)  # runner-a's lease has expired
        await taking_over
        result = (await stack.wait_results({second}))[second]
        assert result.status == "succeeded", result.error
        assert calls_for(stack, second) == 1
        claim = await client[settings.runner_db]["claims"].find_one({"_id": f"{org}/{second}"})
        assert claim is not None
        assert claim["owner"] == "runner-b"
    finally:
        await runner.stop()
        await holder.close()
        await client.close()


async def test_a_refetch_within_the_same_runner_waits_for_its_own_task(
    mongo_url: str, db_name: str
) -> None:
    """A partition revoked and assigned back to the same runner re-fetches work that runner
    is still executing: the second copy waits for the first's result instead of calling."""
    store = MongoDedupeStore(
        AsyncMongoClient(mongo_url, tz_aware=True), db_name, owner="runner-a", poll_s=0.05
    )
    await store.open()
    try:
        assert await store.claim(org_id="org-a", execution_id="exec-1") is None
        again = asyncio.create_task(store.claim(org_id="org-a", execution_id="exec-1"))
        await until(lambda: store.waiting == 1)
        await asyncio.sleep(0.2)
        assert not again.done()
        first = domain.failed(
            request("exec-1", "org-a", "ws-1"),
            code=ErrorCode.PROVIDER_UNAVAILABLE,
            message="the first copy's result",
            provider="anthropic",
            key_id=None,
            attempts=1,
            duration_ms=1,
        )
        await store.put(result=first)
        answer = await again
        assert answer is not None
        assert answer.error is not None
        assert answer.error.message == "the first copy's result"
        # A retry after the first attempt released the claim (an infrastructure error) is ours.
        assert await store.claim(org_id="org-a", execution_id="exec-2") is None
        store.release(org_id="org-a", execution_id="exec-2")
        assert await store.claim(org_id="org-a", execution_id="exec-2") is None
    finally:
        await store.close()
