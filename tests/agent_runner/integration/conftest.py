"""Real Kafka, FerretDB, the real keyvault app and the provider simulator on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agent_runner.app import create_app as create_runner
from agent_runner.settings import RunnerSettings
from deploy.local.simulator import Simulator
from deploy.local.simulator import create_app as create_simulator
from keyvault.app import create_app as create_keyvault
from keyvault.settings import KeyvaultSettings
from shared.contracts import (
    REPUBLISHED_HEADER,
    ExecutionResult,
    Topics,
    WorkspaceAssignmentsChanged,
)
from shared.kafka import ensure_topics
from shared.settings import DEV_SERVICE_TOKENS
from tests.support.kafka import kafka_options, kafka_settings
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    """One isolated deployment: topics with a suffix, databases, keyvault and simulator."""

    bootstrap: str
    mongo_url: str
    suffix: str
    unique: str
    keyvault_url: str
    sim_url: str
    sim: Simulator
    producer: AIOKafkaProducer
    gateway: httpx.AsyncClient
    kv_settings: KeyvaultSettings | None = None
    results: dict[str, list[ExecutionResult]] = field(default_factory=dict)
    # Per execution, whether each of its results carried the runner's "published again" mark.
    republished: dict[str, list[bool]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    @property
    def topics(self) -> Topics:
        return Topics(self.suffix)

    def runner_env(self, **extra: str) -> dict[str, str]:
        """Environment of a `python -m agent_runner` subprocess for this stack."""
        env = dict(os.environ)
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "MONGODB_URL": self.mongo_url,
                "KAFKA_TOPIC_SUFFIX": self.suffix,
                "RUNNER_DB": f"test_runner_{self.unique}",
                "RUNNER_GROUP_ID": f"agent-runner-{self.unique}",
                "KEYVAULT_URL": self.keyvault_url,
                "RUNNER_ANTHROPIC_BASE_URL": self.sim_url,
                "RUNNER_OPENAI_BASE_URL": self.sim_url,
                "RUNNER_GOOGLE_BASE_URL": self.sim_url,
                "RUNNER_HEALTH_PORT": str(free_port()),
                "LOG_LEVEL": "WARNING",
            }
        )
        env.update(extra)
        return env

    def runner_settings(self, **overrides: Any) -> RunnerSettings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "mongodb_url": self.mongo_url,
            "kafka_topic_suffix": self.suffix,
            "runner_db": f"test_runner_{self.unique}",
            "runner_group_id": f"agent-runner-{self.unique}",
            "keyvault_url": self.keyvault_url,
            "runner_anthropic_base_url": self.sim_url,
            "runner_openai_base_url": self.sim_url,
            "runner_google_base_url": self.sim_url,
            "runner_shutdown_grace_s": 5.0,
        }
        values.update(overrides)
        return RunnerSettings(**values)

    @contextlib.asynccontextmanager
    async def runner(self, **overrides: Any) -> AsyncIterator[str]:
        """An in-process runner (health app on a free port); yields its base URL."""
        async with serve(create_runner(self.runner_settings(**overrides))) as url:
            yield url

    async def create_key(self, org: str, provider: str, secret: str) -> str:
        body = {
            "provider": provider,
            "name": f"{provider}-{uuid.uuid4().hex[:8]}",
            "api_key": secret,
            "actor": "user-1",
        }
        response = await self.gateway.post(f"/internal/v1/orgs/{org}/keys", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def assign(self, org: str, ws: str, key_ids: list[str]) -> None:
        event = WorkspaceAssignmentsChanged(workspace_id=ws, org_id=org, key_ids=key_ids)
        await self.producer.send_and_wait(
            self.topics.assignments, event.model_dump_json().encode(), key=ws.encode()
        )
        await asyncio.sleep(0.3)  # keyvault's read model follows within a second

    async def request(
        self, execution_id: str, org: str, ws: str, model: str, text: str = "Hello", **extra: Any
    ) -> None:
        event = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-01-01T00:00:00Z",
            "schema_version": 1,
            "execution_id": execution_id,
            "org_id": org,
            "workspace_id": ws,
            "workflow_id": "wf-9",
            "node_id": "node-3",
            "model": model,
            "input": {
                "system": "You are terse.",
                "messages": [{"role": "user", "content": f"{text} ({execution_id})"}],
                "max_tokens": 64,
                "temperature": 0.2,
            },
            **extra,
        }
        import json

        await self.send_raw(execution_id.encode(), json.dumps(event).encode())

    async def send_raw(self, key: bytes | None, value: bytes) -> None:
        await self.producer.send_and_wait(self.topics.execution_requested, value, key=key)

    async def start_reading(self) -> None:
        topic = self.topics.execution_result
        # The producer's public metadata wait (no aiokafka private client): the topic exists.
        parts = await self.producer.partitions_for(topic)
        consumer = AIOKafkaConsumer(
            **kafka_options(self.bootstrap), group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)

        async def loop() -> None:
            try:
                while True:
                    batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                    for records in batches.values():
                        for record in records:
                            result = ExecutionResult.model_validate_json(record.value)
                            self.results.setdefault(result.execution_id, []).append(result)
                            marked = (REPUBLISHED_HEADER, b"1") in (record.headers or ())
                            self.republished.setdefault(result.execution_id, []).append(marked)
            finally:
                await consumer.stop()

        self._reader = asyncio.create_task(loop())

    async def wait_results(
        self, ids: set[str], timeout: float = 30.0
    ) -> dict[str, ExecutionResult]:
        async with asyncio.timeout(timeout):
            while not ids <= self.results.keys():
                await asyncio.sleep(0.05)
        return {i: self.results[i][0] for i in ids}

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


@pytest.fixture
async def stack(
    kafka_bootstrap: str, mongo_url: str, topic_suffix: str, unique: str
) -> AsyncIterator[Stack]:
    await ensure_topics(kafka_settings(kafka_bootstrap), Topics(topic_suffix))
    kv_settings = KeyvaultSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        mongodb_url=mongo_url,
        kafka_topic_suffix=topic_suffix,
        keyvault_db=f"test_kv_{unique}",
        keyvault_master_keys=f"v1:{base64.b64encode(os.urandom(32)).decode()}",
        workspace_url=f"http://127.0.0.1:{free_port()}",  # no workspace: assignments via Kafka
        keyvault_ready_timeout_s=20.0,
    )
    sim = create_simulator()
    producer = AIOKafkaProducer(**kafka_options(kafka_bootstrap), acks="all", linger_ms=2)
    await producer.start()
    try:
        async with serve(sim) as sim_url, serve(create_keyvault(kv_settings)) as kv_url:
            gateway = httpx.AsyncClient(
                base_url=kv_url,
                headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"},
            )
            s = Stack(
                kafka_bootstrap,
                mongo_url,
                topic_suffix,
                unique,
                kv_url,
                sim_url,
                sim,
                producer,
                gateway,
                kv_settings=kv_settings,
            )
            await s.start_reading()
            try:
                yield s
            finally:
                await s.close()
                await gateway.aclose()
    finally:
        await producer.stop()
