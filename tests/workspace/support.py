"""Helpers for workspace tests: fakes for unit tests, Kafka helpers for integration tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contracts import (
    Event,
    OrgPlanChanged,
    ProviderKeyChanged,
    WorkspaceAssignmentsChanged,
)
from tests.support.kafka import kafka_options
from workspace.domain import KeyInfo

T = TypeVar("T")


class RecordingPublisher:
    """StatePublisher twin that remembers what was published."""

    def __init__(self) -> None:
        self.assignments: list[WorkspaceAssignmentsChanged] = []
        self.plans: list[OrgPlanChanged] = []
        self.fail = False

    async def publish_assignments(self, event: WorkspaceAssignmentsChanged) -> None:
        if self.fail:
            raise ConnectionError("kafka down")
        self.assignments.append(event)

    async def publish_plan(self, event: OrgPlanChanged) -> None:
        if self.fail:
            raise ConnectionError("kafka down")
        self.plans.append(event)


class FakeConfirmer:
    """KeyConfirmer twin: answers from a dict, counts calls."""

    def __init__(self, known: dict[str, KeyInfo] | None = None) -> None:
        self.known = known or {}
        self.calls: list[str] = []

    async def fetch_key(self, *, org_id: str, key_id: str) -> KeyInfo | None:
        self.calls.append(key_id)
        return self.known.get(key_id)


def key_event(
    key_id: str, org_id: str, provider: str = "anthropic", status: str = "active"
) -> ProviderKeyChanged:
    return ProviderKeyChanged.model_validate(
        {
            "key_id": key_id,
            "org_id": org_id,
            "provider": provider,
            "name": f"name-{key_id}",
            "preview": "sk-ant-…Xy9Z",
            "status": status,
            "created_at": datetime.now(UTC),
            "created_by": "user-1",
        }
    )


def result_event(
    execution_id: str,
    org_id: str,
    *,
    workspace_id: str = "ws-1",
    model: str = "claude-sonnet-4-6",
    key_id: str | None = "key-1",
    status: str = "succeeded",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cost: float | None = 0.001,
    occurred_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "execution_id": execution_id,
        "org_id": org_id,
        "workspace_id": workspace_id,
        "status": status,
        "model": model,
        "provider": "anthropic" if model.startswith("claude") else "openai",
        "key_id": key_id,
        "output": {"text": "Hi.", "finish_reason": "end_turn"} if status == "succeeded" else None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens, "cost_usd": cost},
        "error": None
        if status == "succeeded"
        else {"code": "provider_auth_failed", "message": "key refused", "retryable": False},
        "attempts": 1,
        "duration_ms": 42,
    }
    if occurred_at is not None:
        body["occurred_at"] = occurred_at.isoformat()
    body.update(extra)
    return body


def requested_event(execution_id: str, org_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "org_id": org_id,
        "workspace_id": "ws-1",
        "model": "claude-sonnet-4-6",
        "input": {"messages": [{"role": "user", "content": "Hello"}]},
        **extra,
    }


async def eventually(
    probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 20.0
) -> T:
    """Poll `probe` until `ok(value)`; fail with the last value after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if ok(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.05)


class Kafka:
    """A producer and topic readers against the real broker."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.producer = AIOKafkaProducer(**kafka_options(bootstrap), acks="all")

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def send(self, topic: str, key: str, value: Event | dict[str, Any] | bytes) -> None:
        if isinstance(value, Event):
            raw = value.model_dump_json().encode()
        elif isinstance(value, dict):
            raw = json.dumps(value, default=str).encode()
        else:
            raw = value
        await self.producer.send_and_wait(topic, value=raw, key=key.encode())

    async def read_all(self, topic: str) -> list[tuple[str, dict[str, Any]]]:
        """Every (key, value) on the topic now, in offset order per partition."""
        consumer = AIOKafkaConsumer(
            **kafka_options(self.bootstrap), group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            out: list[tuple[str, dict[str, Any]]] = []
            for tp in tps:
                while await consumer.position(tp) < end[tp]:
                    batch = await consumer.getmany(tp, timeout_ms=1000)
                    for record in batch.get(tp, []):
                        if record.value is not None:
                            out.append((record.key.decode(), json.loads(record.value)))
            return out
        finally:
            await consumer.stop()

    async def latest(self, topic: str) -> dict[str, dict[str, Any]]:
        """The last value per key (what compaction keeps)."""
        return dict(await self.read_all(topic))
