"""Handles on the e2e stack (see tests/e2e/conftest.py) and small polling helpers."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import jwt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from tests.support.kafka import kafka_options

if TYPE_CHECKING:
    from tests.support.otelcol import Collector

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
# FLOWTRUX_E2E_PORT_BASE moves the whole e2e stack (two suites can then run side by side).
PORT_BASE = int(os.environ.get("FLOWTRUX_E2E_PORT_BASE", "18080"))
PORTS = {
    "gateway": PORT_BASE,
    "keyvault": PORT_BASE + 1,
    "workspace": PORT_BASE + 2,
    "agent-runner": PORT_BASE + 3,
    "second-gateway": PORT_BASE + 5,
    "provider-sim": PORT_BASE + 10,
    "otel-collector": PORT_BASE + 20,
}
JWT_SECRET = "e2e-gateway-jwt-secret-0123456789abcdef"
ENV_CANARIES = {
    "ANTHROPIC_API_KEY": "sk-ant-env-canary-must-never-be-used-0000",
    "OPENAI_API_KEY": "sk-env-canary-must-never-be-used-00000000",
    "GOOGLE_API_KEY": "AIzaEnvCanaryMustNeverBeUsed000000000",
    "GEMINI_API_KEY": "AIzaEnvCanaryMustNeverBeUsed000000001",
}


@dataclass
class E2E:
    """Handles on the running stack and what the suite saw."""

    gateway: str
    simulator: str
    bootstrap: str
    mongo_url: str
    suffix: str
    databases: list[str]
    log_prefix: str
    seen_bodies: list[bytes] = field(default_factory=list)
    canaries: set[str] = field(default_factory=set)
    service_env: dict[str, str] = field(default_factory=dict)
    collector: Collector | None = None
    _producer: AIOKafkaProducer | None = None

    def token(self, org: str, role: str = "OWNER", **extra: Any) -> str:
        claims = {
            "sub": f"user-{role.lower()}-{org}",
            "org_id": org,
            "role": role,
            "exp": int(time.time()) + 3600,
            **extra,
        }
        return jwt.encode(claims, JWT_SECRET, algorithm="HS256")

    def client(self, org: str, role: str = "OWNER", **extra: Any) -> httpx.AsyncClient:
        async def keep(response: httpx.Response) -> None:
            await response.aread()
            self.seen_bodies.append(response.content)

        return httpx.AsyncClient(
            base_url=f"{self.gateway}/api/v1",
            headers={"Authorization": f"Bearer {self.token(org, role, **extra)}"},
            timeout=httpx.Timeout(90.0),
            event_hooks={"response": [keep]},
        )

    def canary(self, provider: str, marker: str = "") -> str:
        """A fresh, recognisable provider key whose every appearance the final scan hunts."""
        body = f"CANARY{marker}{secrets.token_hex(12)}"
        key = {
            "anthropic": f"sk-ant-api03-{body}",
            "openai": f"sk-proj-{body}",
            "google": f"AIza{body}",
        }[provider]
        self.canaries.add(key)
        return key

    @property
    def topics(self) -> dict[str, str]:
        base = {
            "requested": "agent.execution.requested.v1",
            "result": "agent.execution.result.v1",
            "keys": "keyvault.keys.v1",
            "assignments": "workspace.assignments.v1",
            "plans": "workspace.plans.v1",
        }
        topics = {k: v + self.suffix for k, v in base.items()}
        topics["dlq"] = topics["requested"] + ".dlq"
        return topics

    async def publish_raw(self, value: bytes, key: bytes | None = None) -> None:
        """Publish to the requests topic as another service (any language) would."""
        if self._producer is None:
            self._producer = AIOKafkaProducer(**kafka_options(self.bootstrap))
            await self._producer.start()
        await self._producer.send_and_wait(self.topics["requested"], value, key=key)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish_request(self, **fields: Any) -> None:
        event = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-11-28T12:00:00Z",
            "schema_version": 1,
            **fields,
        }
        await self.publish_raw(json.dumps(event).encode(), fields["execution_id"].encode())

    async def sim_requests(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.simulator) as client:
            items: list[dict[str, Any]] = (await client.get("/_sim/requests")).json()["items"]
            return items


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from the beginning up to its end when called."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps: list[TopicPartition] = []
        for _ in range(50):
            tps = list(consumer.assignment())
            if tps:
                break
            await asyncio.sleep(0.1)
        if not tps:
            return []
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        out: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(60):
            while remaining:
                for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                    out += records
                    if records and records[-1].offset + 1 >= end[tp]:
                        remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


def write_report(out: str | Path, lines: list[str]) -> str:
    """A benchmark's markdown section: written to `out` (folders made) and printed."""
    text = "\n".join(lines) + "\n"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text, encoding="utf-8")
    print(text)
    return text


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def wait_for(
    predicate: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Poll an async predicate until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def load_stack_module() -> ModuleType:
    """deploy/local/stack.py, the launcher `make dev` uses (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("flowtrux_stack", ROOT / "deploy/local/stack.py")
    if spec is None or spec.loader is None:
        raise ImportError("deploy/local/stack.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules["flowtrux_stack"] = module
    spec.loader.exec_module(module)
    return module


# --- API shortcuts of the e2e and browser suites -------------------------------------------


async def add_key(
    client: httpx.AsyncClient, provider: str, name: str, api_key: str
) -> dict[str, Any]:
    response = await client.post(
        "/ai-providers", json={"provider": provider, "name": name, "api_key": api_key}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_workspace(
    client: httpx.AsyncClient, name: str, key_ids: list[str] | None = None
) -> dict[str, Any]:
    response = await client.post("/workspaces", json={"name": name})
    assert response.status_code == 201, response.text
    workspace: dict[str, Any] = response.json()
    if key_ids is not None:
        workspace = await assign(client, workspace["id"], key_ids)
    return workspace


async def assign(
    client: httpx.AsyncClient, workspace_id: str, key_ids: list[str]
) -> dict[str, Any]:
    response = await client.patch(f"/workspaces/{workspace_id}", json={"ai_provider_ids": key_ids})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["ai_provider_ids"] == key_ids
    return body
