"""A keyvault served on a real loopback port against the real Kafka and FerretDB."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from keyvault.app import create_app
from keyvault.settings import KeyvaultSettings
from shared.contracts import OrgPlanChanged, PlanLimits, WorkspaceAssignmentsChanged
from shared.settings import DEV_SERVICE_TOKENS
from tests.support.kafka import kafka_options
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.integration


def new_keyring_entry(version: str) -> str:
    return f"{version}:{base64.b64encode(os.urandom(32)).decode()}"


@dataclass
class Running:
    url: str
    settings: KeyvaultSettings
    gateway: httpx.AsyncClient
    runner: httpx.AsyncClient
    producer: AIOKafkaProducer

    async def assign(self, ws: str, org: str, key_ids: list[str], *, deleted: bool = False) -> None:
        event = WorkspaceAssignmentsChanged(
            workspace_id=ws, org_id=org, key_ids=key_ids, deleted=deleted
        )
        await self.producer.send_and_wait(
            self.settings.topics.assignments, event.model_dump_json().encode(), key=ws.encode()
        )

    async def set_plan(self, org: str, plan: str, keys: int | None) -> None:
        event = OrgPlanChanged(
            org_id=org, plan=plan, limits=PlanLimits(provider_keys=keys, workspaces=3)
        )
        await self.producer.send_and_wait(
            self.settings.topics.plans, event.model_dump_json().encode(), key=org.encode()
        )

    async def create(
        self, org: str, provider: str, name: str, api_key: str, **extra: Any
    ) -> httpx.Response:
        body = {"provider": provider, "name": name, "api_key": api_key, "actor": "user-1", **extra}
        return await self.gateway.post(f"/internal/v1/orgs/{org}/keys", json=body)

    async def resolve(
        self, org: str, ws: str, provider: str, public: bytes, **extra: Any
    ) -> httpx.Response:
        body = {
            "org_id": org,
            "workspace_id": ws,
            "provider": provider,
            "execution_id": extra.pop("execution_id", "exec-1"),
            "public_key": base64.b64encode(public).decode(),
            "skip_key_ids": extra.pop("skip_key_ids", []),
        }
        return await self.runner.post("/internal/v1/resolve", json=body)


@pytest.fixture
def settings_factory(
    kafka_bootstrap: str, mongo_url: str, topic_suffix: str, db_name: str
) -> Callable[..., KeyvaultSettings]:
    def make(**overrides: Any) -> KeyvaultSettings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": kafka_bootstrap,
            "mongodb_url": mongo_url,
            "kafka_topic_suffix": topic_suffix,
            "keyvault_db": db_name,
            "keyvault_master_keys": new_keyring_entry("v1"),
            # Nothing listens here unless a test serves a stand-in workspace.
            "workspace_url": f"http://127.0.0.1:{free_port()}",
            "runner_anthropic_base_url": f"http://127.0.0.1:{free_port()}",
            "keyvault_ready_timeout_s": 20.0,
            # The whole suite shares two cores with Kafka: a ListOffsets round trip can pass
            # the 0.5 s default there, and a resolution then answers 503 (the runner waits
            # and asks again; these tests ask once). Tests of the fence set their own.
            "keyvault_fence_timeout_s": 5.0,
        }
        values.update(overrides)
        return KeyvaultSettings(**values)

    return make


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(**kafka_options(kafka_bootstrap), acks="all")
    await p.start()
    yield p
    await p.stop()


async def start(settings: KeyvaultSettings, producer: AIOKafkaProducer) -> Any:
    """An async context manager yielding a Running keyvault."""
    import contextlib

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[Running]:
        async with serve(create_app(settings)) as url:
            gateway = httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
            )
            runner = httpx.AsyncClient(
                base_url=url,
                headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['agent-runner']}"},
            )
            try:
                yield Running(url, settings, gateway, runner, producer)
            finally:
                await gateway.aclose()
                await runner.aclose()

    return running()


@pytest.fixture
async def kv(
    settings_factory: Callable[..., KeyvaultSettings], producer: AIOKafkaProducer
) -> AsyncIterator[Running]:
    async with await start(settings_factory(), producer) as running:
        yield running
