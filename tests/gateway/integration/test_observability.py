"""Metrics of all four services move after one real test run (real keyvault, workspace,
gateway, runner, the provider simulator, Kafka and FerretDB), and request ids travel."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agent_runner.app import create_app as create_runner
from agent_runner.settings import RunnerSettings
from deploy.local.simulator import create_app as create_simulator
from tests.gateway.support import Stack, assert_problem, auth, stack
from tests.support.servers import serve

pytestmark = pytest.mark.integration

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")  # routes hold braces


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value of every sample in a Prometheus text scrape."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out


def total(scrape: dict[str, float], name: str, *must: str) -> float:
    """The sum of the samples of `name` whose labels contain every one of `must`."""
    return sum(
        v
        for k, v in scrape.items()
        if (k == name or k.startswith(name + "{")) and all(m in k for m in must)
    )


@pytest.fixture(scope="module")
async def full(kafka_bootstrap: str, mongo_url: str) -> AsyncIterator[tuple[Stack, str]]:
    """keyvault, workspace, a gateway and a runner talking to the provider simulator."""
    tag = secrets.token_hex(4)
    async with serve(create_simulator()) as sim:
        providers: dict[str, Any] = {
            f"runner_{p}_base_url": sim for p in ("anthropic", "openai", "google")
        }
        async with stack(
            bootstrap=kafka_bootstrap,
            mongo_url=mongo_url,
            suffix=f".t{tag}",
            db_prefix=f"test_obs_{tag}",
            keyvault_overrides=providers,
        ) as running:
            settings = RunnerSettings(
                kafka_bootstrap_servers=kafka_bootstrap,
                mongodb_url=mongo_url,
                kafka_topic_suffix=running.suffix,
                runner_db=f"test_obs_{tag}_runner",
                runner_group_id=f"agent-runner-{tag}",
                keyvault_url=running.keyvault,
                runner_shutdown_grace_s=5.0,
                log_format="text",
                **providers,
            )
            async with serve(create_runner(settings)) as runner:
                yield running, runner


async def scrape_all(live: Stack, runner: str) -> dict[str, dict[str, float]]:
    async with httpx.AsyncClient() as http:
        out = {}
        for name, url in (
            ("gateway", live.gateway),
            ("keyvault", live.keyvault),
            ("workspace", live.workspace),
            ("runner", runner),
        ):
            response = await http.get(f"{url}/metrics")
            assert response.status_code == 200, (name, response.text)
            out[name] = samples(response.text)
        return out


async def test_every_series_exists_and_moves_after_an_execution(
    full: tuple[Stack, str], org: str
) -> None:
    live, runner = full
    before = await scrape_all(live, runner)
    async with httpx.AsyncClient(base_url=f"{live.gateway}/api/v1", timeout=30) as c:
        key = await c.post(
            "/ai-providers",
            json={
                "provider": "anthropic",
                "name": "Sim",
                "api_key": "sk-ant-api03-" + secrets.token_hex(16),
            },
            headers=auth(org),
        )
        assert key.status_code == 201, key.text
        ws = (await c.post("/workspaces", json={"name": "Obs"}, headers=auth(org))).json()
        done = await c.patch(
            f"/workspaces/{ws['id']}",
            json={"ai_provider_ids": [key.json()["id"]]},
            headers=auth(org),
        )
        assert done.status_code == 200, done.text
        for _ in range(50):  # keyvault's assignments read model follows the topic
            run = await c.post(
                f"/workspaces/{ws['id']}/executions",
                json={
                    "model": "claude-sonnet-4-6",
                    "input": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16},
                    "wait_seconds": 20,
                },
                headers=auth(org, "MEMBER"),
            )
            assert run.status_code in (200, 201, 202), run.text
            if run.json()["status"] == "succeeded":
                break
            await asyncio.sleep(0.2)
        assert run.json()["status"] == "succeeded", run.text
    # The ledger's batch and the consumers' fetches settle after the answer: scrape until
    # the last of them (the ledger's ingest) has counted the run (generous, CI is loaded).
    ingest = "flowtrux_workspace_ledger_ingest_lag_seconds_count"
    async with asyncio.timeout(30):
        while True:
            after = await scrape_all(live, runner)
            if total(after["workspace"], ingest) > total(before["workspace"], ingest):
                break
            await asyncio.sleep(0.2)

    def moved(service: str, name: str, *must: str) -> None:
        old, new = total(before[service], name, *must), total(after[service], name, *must)
        assert new > old, (service, name, must, old, new)

    def exists(service: str, name: str, *must: str) -> None:
        assert any(
            (k == name or k.startswith(name + "{")) and all(m in k for m in must)
            for k in after[service]
        ), (service, name, must)

    for service in ("gateway", "keyvault", "workspace", "runner"):
        exists(service, "process_resident_memory_bytes")
        exists(service, "python_gc_collections_total")
    for service in ("gateway", "keyvault", "workspace"):
        moved(service, "flowtrux_http_requests_total")
        moved(service, "flowtrux_http_request_duration_seconds_count")
        exists(service, "flowtrux_kafka_consumer_lag")
    moved(
        "gateway",
        "flowtrux_http_requests_total",
        'route="/api/v1/workspaces/{workspace_id}/executions"',
        'status="201"' if run.status_code == 201 else f'status="{run.status_code}"',
    )
    moved("keyvault", "flowtrux_keyvault_resolutions_total", 'outcome="granted"')
    moved("keyvault", "flowtrux_keyvault_audit_write_seconds_count")
    exists("keyvault", "flowtrux_kafka_consumer_lag", "state-reader:workspace.assignments.v1")
    moved("workspace", "flowtrux_workspace_ledger_ingest_lag_seconds_count")
    exists("workspace", "flowtrux_kafka_consumer_lag", "workspace-ledger")
    moved(
        "runner",
        "flowtrux_runner_executions_total",
        'status="succeeded"',
        'model="claude-sonnet-4-6"',
    )
    moved("runner", "flowtrux_runner_provider_latency_seconds_count", 'provider="anthropic"')
    moved("runner", "flowtrux_runner_tokens_total", 'direction="input"', 'provider="anthropic"')
    moved("runner", "flowtrux_runner_tokens_total", 'direction="output"')
    moved("runner", "flowtrux_runner_cost_usd_total", 'model="claude-sonnet-4-6"')
    exists("runner", "flowtrux_kafka_consumer_lag", 'consumer="agent-runner"')
    exists("runner", "flowtrux_runner_in_flight")


async def test_request_id_reaches_the_answer_the_problem_and_the_upstream(
    full: tuple[Stack, str], org: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flowtrux.access")
    live, _ = full
    async with httpx.AsyncClient(base_url=f"{live.gateway}/api/v1") as c:
        listed = await c.get("/ai-providers", headers={**auth(org), "X-Request-Id": "obs-1"})
        assert listed.headers["x-request-id"] == "obs-1"
        missing = await c.get(
            "/workspaces/ws-missing", headers={**auth(org), "X-Request-Id": "obs-2"}
        )
        body = assert_problem(missing, 404, "not_found")
        assert body["instance"] == "urn:flowtrux:request:obs-2"
        assert missing.headers["x-request-id"] == "obs-2"
    # The gateway passed the id on: workspace's access log has the same request id.
    upstream = [
        r
        for r in caplog.records
        if r.name == "flowtrux.access" and str(getattr(r, "route", "")).startswith("/internal/")
    ]
    assert "obs-2" in {getattr(r, "request_id", None) for r in upstream}
