"""A dependency that is down answers 503 `dependency_unavailable` naming it, never a hang."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.app import create_app
from tests.gateway.support import Stack, assert_problem, auth, gateway_settings
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.integration

MESSAGE = {
    "model": "gpt-5",
    "input": {"messages": [{"role": "user", "content": "Hi"}]},
    "wait_seconds": 5,
}


async def test_keyvault_and_workspace_down(live: Stack, org: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = gateway_settings(
        kafka_bootstrap_servers=live.bootstrap,
        kafka_topic_suffix=live.suffix,
        keyvault_url=dead,
        workspace_url=dead,
    )
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as c:
        started = time.monotonic()
        for path, name in (
            ("/api/v1/ai-providers", "keyvault"),
            ("/api/v1/workspaces", "workspace"),
            ("/api/v1/plan", None),
        ):
            got = assert_problem(
                await c.get(path, headers=auth(org)), 503, "dependency_unavailable"
            )
            if name:
                assert name in got["detail"]
        assert time.monotonic() - started < 10
        # Ready all the same: the gateway serves its own routes, and what needs an upstream
        # answers 503 problem+json (an unready gateway would turn that into connection errors).
        ready = await c.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "checks": {"started": "ok"}}
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/api/v1/auth/options")).status_code == 200


async def test_kafka_down_gives_503_naming_kafka(live: Stack, org: str) -> None:
    settings = gateway_settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        kafka_topic_suffix=live.suffix,
        keyvault_url=live.keyvault,
        workspace_url=live.workspace,
        gateway_kafka_timeout_s=0.5,
    )
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as c:
        ws = await c.post("/api/v1/workspaces", json={"name": "K"}, headers=auth(org))
        assert ws.status_code == 201, ws.text
        got = assert_problem(
            await c.post(
                f"/api/v1/workspaces/{ws.json()['id']}/executions",
                json=MESSAGE,
                headers=auth(org, "MEMBER"),
            ),
            503,
            "dependency_unavailable",
        )
        assert "kafka" in got["detail"]
        assert (await c.get("/api/v1/readyz")).status_code == 200
