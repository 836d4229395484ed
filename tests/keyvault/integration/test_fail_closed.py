"""Revocation fails closed: no key leaves keyvault while its read models may be stale.

keyvault's assignments reader is stalled or killed for real (its handler blocked, its task
cancelled) against the real Kafka topic; the broker's end offsets say what it has not seen.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from fastapi import FastAPI

from keyvault.app import create_app
from keyvault.settings import KeyvaultSettings
from shared.crypto import new_recipient
from shared.kafka import StateTopicReader
from shared.settings import DEV_SERVICE_TOKENS
from tests.keyvault.integration.conftest import Running
from tests.support.servers import serve

pytestmark = pytest.mark.integration


@asynccontextmanager
async def running(
    settings: KeyvaultSettings, producer: AIOKafkaProducer
) -> AsyncIterator[tuple[Running, FastAPI]]:
    app = create_app(settings)
    async with serve(app) as url:
        gateway = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
        )
        runner = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['agent-runner']}"}
        )
        try:
            yield Running(url, settings, gateway, runner, producer), app
        finally:
            await gateway.aclose()
            await runner.aclose()


def assignments_reader(app: FastAPI, settings: KeyvaultSettings) -> StateTopicReader:
    readers: list[StateTopicReader] = app.state.readers
    (reader,) = [r for r in readers if r.topic == settings.topics.assignments]
    return reader


async def eventually(check: Callable[[], object], seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # type: ignore[misc]
            await asyncio.sleep(0.05)


async def test_a_stalled_reader_never_lets_an_unassigned_key_out(
    settings_factory: Callable[..., KeyvaultSettings], producer: AIOKafkaProducer, unique: str
) -> None:
    settings = settings_factory(keyvault_fence_timeout_s=0.5)  # the default: six waits below
    async with running(settings, producer) as (kv, app):
        org, ws = f"org-{unique}", f"ws-{unique}"
        key_id = (
            await kv.create(org, "anthropic", "k", "sk-ant-api03-" + secrets.token_urlsafe(30))
        ).json()["id"]
        await kv.assign(ws, org, [key_id])
        _, public = new_recipient()

        async def resolvable() -> bool:
            return (await kv.resolve(org, ws, "anthropic", public)).status_code == 200

        await eventually(resolvable)

        reader = assignments_reader(app, settings)
        original, gate = reader.handler, asyncio.Event()

        async def stalled(record: ConsumerRecord[bytes, bytes]) -> None:
            await gate.wait()
            await original(record)

        reader.handler = stalled
        await kv.assign(ws, org, [])  # the unassign is on the topic (acks=all) from here on

        for n in range(5):
            answer = await kv.resolve(org, ws, "anthropic", public, execution_id=f"after-{n}")
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == "dependency_unavailable"
            assert "sealed" not in answer.text
        batch = await kv.runner.post(
            "/internal/v1/resolve-batch",
            json={
                "items": [
                    {
                        "org_id": org,
                        "workspace_id": ws,
                        "provider": "anthropic",
                        "execution_id": "after-batch",
                        "public_key": base64.b64encode(public).decode(),
                        "skip_key_ids": [],
                    }
                ]
            },
        )
        assert (batch.status_code, batch.json()["code"]) == (503, "dependency_unavailable")
        ready = await kv.gateway.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["read_models"] == "unavailable"

        gate.set()  # the reader applies the unassign; from now on the answer is "no key"
        reader.handler = original

        async def refused_for_good() -> bool:
            answer = await kv.resolve(org, ws, "anthropic", public)
            return answer.status_code == 409

        await eventually(refused_for_good)
        assert (await kv.resolve(org, ws, "anthropic", public)).json()["code"] == (
            "provider_not_configured"
        )
        audit = await kv.gateway.get(f"/internal/v1/orgs/{org}/audit", params={"limit": 500})
        used_after = [
            e for e in audit.json()["items"] if str(e.get("execution_id", "")).startswith("after-")
        ]
        assert used_after == []
        assert (await kv.gateway.get("/readyz")).status_code == 200


async def test_a_dead_reader_refuses_resolution_at_once_and_recovers(
    settings_factory: Callable[..., KeyvaultSettings], producer: AIOKafkaProducer, unique: str
) -> None:
    settings = settings_factory()
    async with running(settings, producer) as (kv, app):
        org, ws = f"org-{unique}", f"ws-{unique}"
        key_id = (
            await kv.create(org, "openai", "k", "sk-proj-" + secrets.token_urlsafe(30))
        ).json()["id"]
        await kv.assign(ws, org, [key_id])
        _, public = new_recipient()

        async def resolvable() -> bool:
            return (await kv.resolve(org, ws, "openai", public)).status_code == 200

        await eventually(resolvable)
        reader = assignments_reader(app, settings)
        task = reader.task
        assert task is not None
        task.cancel()  # the reading task dies (as on a consumer error)
        with pytest.raises(asyncio.CancelledError):
            await task
        # No waiting: a reader that is not running refuses the very next resolution.
        answer = await kv.resolve(org, ws, "openai", public)
        assert (answer.status_code, answer.json()["code"]) == (503, "dependency_unavailable")
        assert "not running" in answer.json()["detail"]
        # The reader is restarted, rebuilds its read model, and resolution resumes.
        await eventually(resolvable)
        assert (await kv.gateway.get("/readyz")).status_code == 200
