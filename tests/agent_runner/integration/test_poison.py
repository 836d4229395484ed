"""Poison results through the real runner, Kafka, FerretDB, keyvault and the simulator (issue 12,
fix 2): a malformed 200, a huge output, an unexpected exception and a lasting infrastructure
error each end in a result or the DLQ, and the partition's commit point moves past them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from agent_runner import domain
from agent_runner.app import create_app as create_runner
from agent_runner.store import MongoDedupeStore
from shared.contracts import ErrorCode
from tests.agent_runner.fakes import FailingPuts
from tests.agent_runner.integration.conftest import Stack
from tests.support.kafka import kafka_options
from tests.support.servers import serve

pytestmark = pytest.mark.integration

SAME_PARTITION = b"one-partition-for-all"


def prompt_sha(execution_id: str) -> str:
    """The simulator's `prompt_sha256` of a request sent by `Stack.request`."""
    return hashlib.sha256(f"Hello ({execution_id})".encode()).hexdigest()


def calls_for(stack: Stack, execution_id: str) -> int:
    return sum(1 for r in stack.sim.records if r.get("prompt_sha256") == prompt_sha(execution_id))


async def send(stack: Stack, execution_id: str, org: str, ws: str, model: str) -> None:
    """A request on the one partition every request of the test shares (same Kafka key)."""
    event = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-01-01T00:00:00Z",
        "schema_version": 1,
        "execution_id": execution_id,
        "org_id": org,
        "workspace_id": ws,
        "model": model,
        "input": {"messages": [{"role": "user", "content": f"Hello ({execution_id})"}]},
    }
    await stack.send_raw(SAME_PARTITION, json.dumps(event).encode())


async def wait_committed_to_end(stack: Stack, timeout: float = 20.0) -> None:
    """Every partition of the request topic is committed by the runner's group up to its end."""
    topic = stack.topics.execution_requested
    consumer = AIOKafkaConsumer(
        **kafka_options(stack.bootstrap),
        group_id=f"agent-runner-{stack.unique}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not tps:
            tps = [TopicPartition(topic, p) for p in await stack.producer.partitions_for(topic)]
        ends = await consumer.end_offsets(tps)
        async with asyncio.timeout(timeout):
            while True:
                committed = {tp: (await consumer.committed(tp)) or 0 for tp in ends}
                if all(committed[tp] >= end for tp, end in ends.items()):
                    return
                await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


async def dead_letters(stack: Stack, count: int) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        stack.topics.execution_requested_dlq,
        **kafka_options(stack.bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: list[tuple[dict[str, Any], dict[str, bytes]]] = []
    try:
        async with asyncio.timeout(20):
            while len(seen) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    seen.extend((json.loads(r.value), dict(r.headers)) for r in records)
    finally:
        await consumer.stop()
    return seen


async def test_malformed_200_is_one_call_and_a_failed_result(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    keys = {
        "anthropic": ("claude-sonnet-4-6", "sk-ant-api03-badbody-nulltext-AAAAAAAA1111"),
        "openai": ("gpt-5", "sk-proj-badbody-list-BBBBBBBBBBBBBBBB2222"),
        "google": ("gemini-2.5-flash", "AIzaSy-badbody-usage-CCCCCCCCCCCCCC3333"),
    }
    key_ids = {p: await stack.create_key(org, p, secret) for p, (_, secret) in keys.items()}
    await stack.assign(org, ws, list(key_ids.values()))
    execs = {p: f"exec-bad-{p}-{uuid.uuid4().hex[:8]}" for p in keys}
    (after,) = [f"exec-after-{uuid.uuid4().hex[:8]}"]
    async with stack.runner():
        for provider, (model, _) in keys.items():
            await send(stack, execs[provider], org, ws, model)
        await send(stack, after, "org-none", "ws-none", "no-such-model")
        results = await stack.wait_results({*execs.values(), after})
        await wait_committed_to_end(stack)
        await asyncio.sleep(1.0)  # time for a retry, if there were one
    for provider, (_, secret) in keys.items():
        result = results[execs[provider]]
        assert result.status == "failed"
        assert result.error is not None
        assert result.error.code == ErrorCode.PROVIDER_BAD_RESPONSE, result.error
        assert not result.error.retryable
        assert provider in result.error.message
        assert (result.attempts, result.key_id) == (1, key_ids[provider])
        assert secret not in result.model_dump_json()
        assert calls_for(stack, execs[provider]) == 1
        assert len(stack.results[execs[provider]]) == 1
    after_error = results[after].error
    assert after_error is not None
    assert after_error.code == ErrorCode.MODEL_UNKNOWN


async def test_huge_output_is_truncated_to_fit_the_result_topic(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "anthropic", "sk-ant-api03-huge1500kb-HHHHHHHHHHHH4444")
    await stack.assign(org, ws, [key])
    execution, after = f"exec-huge-{stack.unique}", f"exec-after-{stack.unique}"
    async with stack.runner():
        await send(stack, execution, org, ws, "claude-haiku-4-5")
        await send(stack, after, "org-none", "ws-none", "no-such-model")
        results = await stack.wait_results({execution, after})
        await wait_committed_to_end(stack)
    result = results[execution]
    assert result.status == "succeeded", result.error
    assert result.output is not None
    assert result.output.finish_reason == domain.TRUNCATED
    marker = domain.truncation_marker(1_000_000)
    assert result.output.text.endswith(marker)
    assert result.output.text.startswith("lorem-ip lorem-ip")
    assert 990_000 < len(result.model_dump_json().encode()) <= 1_000_000
    assert calls_for(stack, execution) == 1
    after_error = results[after].error
    assert after_error is not None
    assert after_error.code == ErrorCode.MODEL_UNKNOWN


async def test_unexpected_exception_is_an_internal_error_result(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.catalog import cost_usd

    def broken_for_opus(prices: Any, model: str, *tokens: int) -> float | None:
        if model == "claude-opus-4-6":
            raise KeyError("injected fault")
        return cost_usd(prices, model, *tokens)

    monkeypatch.setattr("agent_runner.service.cost_usd", broken_for_opus)
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "anthropic", "sk-ant-api03-internal-IIIIIIIIIIII5555")
    await stack.assign(org, ws, [key])
    poisoned, after = f"exec-internal-{stack.unique}", f"exec-after-{stack.unique}"
    async with stack.runner():
        await send(stack, poisoned, org, ws, "claude-opus-4-6")
        await send(stack, after, org, ws, "claude-sonnet-4-6")
        results = await stack.wait_results({poisoned, after})
        await wait_committed_to_end(stack)
        await asyncio.sleep(1.0)
    error = results[poisoned].error
    assert error is not None
    assert error.code == ErrorCode.INTERNAL_ERROR
    assert "KeyError" in error.message
    assert "injected" not in error.message
    assert calls_for(stack, poisoned) == 1
    assert len(stack.results[poisoned]) == 1
    assert results[after].status == "succeeded"


async def test_lasting_infrastructure_error_goes_to_the_dlq_and_the_partition_moves_on(
    stack: Stack,
) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "openai", "sk-proj-infra-key-JJJJJJJJJJJJJJJJ6666")
    await stack.assign(org, ws, [key])
    settings = stack.runner_settings(
        runner_infra_retries=2,
        runner_infra_backoff_base_s=0.05,
        runner_infra_backoff_max_s=0.1,
        runner_key_wait_s=0,  # the DLQ never comes before the key wait (none here) is over
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    store = FailingPuts(MongoDedupeStore(client, settings.runner_db), "exec-infra-")
    poisoned = f"exec-infra-{stack.unique}"
    later = [f"exec-later-{i}-{stack.unique}" for i in range(3)]
    async with serve(create_runner(settings, store=store)):
        await send(stack, poisoned, org, ws, "gpt-5-mini")
        for execution in later:
            await send(stack, execution, org, ws, "gpt-5-mini")
        results = await stack.wait_results(set(later))
        ((value, headers),) = await dead_letters(stack, 1)
        await wait_committed_to_end(stack)
    assert all(r.status == "succeeded" for r in results.values())
    assert value["execution_id"] == poisoned  # the request as received
    assert (
        headers["x-error"]
        .decode()
        .startswith("infrastructure error, gave up after 3 tries: ConnectionError: injected")
    )
    assert store.failed_puts == [poisoned] * 3  # 1 try + 2 retries, then no more
    assert calls_for(stack, poisoned) == 3
    assert poisoned not in stack.results
