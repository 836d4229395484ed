"""Test runs: workspace checked first, ExecutionRequested published, optional wait."""

from __future__ import annotations

import asyncio

import httpx

from gateway.events import Waiters
from shared.contracts import ExecutionOutput, ExecutionResult, ExecutionUsage
from tests.gateway.fakes import InMemoryExecutionBus
from tests.gateway.support import FakeUpstreams, assert_problem, auth

WS_PATH = "/internal/v1/orgs/org-a/workspaces/ws-1"
WS = {
    "id": "ws-1",
    "org_id": "org-a",
    "name": "S",
    "ai_provider_ids": [],
    "created_at": "2026-01-05T10:00:00Z",
}
BODY = {
    "model": "claude-sonnet-4-6",
    "input": {
        "system": "terse",
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 64,
    },
}


def result_for(execution_id: str, org_id: str = "org-a", text: str = "Hi.") -> ExecutionResult:
    return ExecutionResult(
        execution_id=execution_id,
        org_id=org_id,
        workspace_id="ws-1",
        status="succeeded",
        model="claude-sonnet-4-6",
        provider="anthropic",
        key_id="key-1",
        output=ExecutionOutput(text=text, finish_reason="end_turn"),
        usage=ExecutionUsage(input_tokens=12, output_tokens=3, cost_usd=0.000081),
        attempts=1,
        duration_ms=412,
        workflow_id="gateway-test",
        node_id="gateway-test",
    )


async def test_missing_workspace_is_404_and_nothing_published(
    client: httpx.AsyncClient, bus: InMemoryExecutionBus
) -> None:
    response = await client.post(
        "/api/v1/workspaces/ws-1/executions", json=BODY, headers=auth("org-a", "MEMBER")
    )
    assert_problem(response, 404, "not_found")
    assert bus.published == []


async def test_publishes_request_and_answers_202(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    upstreams.on("workspace", "GET", WS_PATH, httpx.Response(200, json=WS))
    response = await client.post(
        "/api/v1/workspaces/ws-1/executions", json=BODY, headers=auth("org-a", "MEMBER")
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    [event] = bus.published
    assert event.execution_id == body["execution_id"]
    assert (event.org_id, event.workspace_id, event.model) == ("org-a", "ws-1", BODY["model"])
    assert event.workflow_id == "gateway-test"
    assert event.input.messages[0].content == "Hello"
    assert event.input.max_tokens == 64


async def test_waits_for_the_result(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    upstreams.on("workspace", "GET", WS_PATH, httpx.Response(200, json=WS))

    async def runner() -> None:
        while not bus.published:
            await asyncio.sleep(0.01)
        bus.deliver(result_for(bus.published[0].execution_id))

    task = asyncio.create_task(runner())
    response = await client.post(
        "/api/v1/workspaces/ws-1/executions",
        json={**BODY, "wait_seconds": 5},
        headers=auth("org-a", "MEMBER"),
    )
    await task
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["status"] == "succeeded"
    assert got["output"] == {"text": "Hi.", "finish_reason": "end_turn"}
    assert got["execution_id"] == bus.published[0].execution_id
    assert set(got) == {
        "execution_id",
        "workspace_id",
        "status",
        "model",
        "provider",
        "key_id",
        "output",
        "usage",
        "error",
        "duration_ms",
        "key_name",
        "requested_at",
        "finished_at",
    }
    assert len(bus.waiters) == 0


async def test_another_orgs_result_with_the_same_id_does_not_answer_the_wait(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    """Execution ids are scoped by org: a result of org B never resolves org A's waiter."""
    upstreams.on("workspace", "GET", WS_PATH, httpx.Response(200, json=WS))

    async def runner() -> None:
        while not bus.published:
            await asyncio.sleep(0.01)
        execution_id = bus.published[0].execution_id
        bus.deliver(result_for(execution_id, "org-b", text="B's answer"))
        await asyncio.sleep(0.1)
        bus.deliver(result_for(execution_id, "org-a", text="A's answer"))

    task = asyncio.create_task(runner())
    response = await client.post(
        "/api/v1/workspaces/ws-1/executions",
        json={**BODY, "wait_seconds": 5},
        headers=auth("org-a", "MEMBER"),
    )
    await task
    assert response.status_code == 200, response.text
    assert response.json()["output"]["text"] == "A's answer"
    assert len(bus.waiters) == 0


async def test_waiters_are_keyed_by_org_and_execution_id() -> None:
    waiters = Waiters()
    mine = waiters.add("org-a", "exec-x")
    waiters.resolve(result_for("exec-x", "org-b"))
    assert not mine.done()
    waiters.resolve(result_for("exec-x", "org-a"))
    assert mine.result().org_id == "org-a"
    assert len(waiters) == 0


async def test_wait_times_out_to_202(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    upstreams.on("workspace", "GET", WS_PATH, httpx.Response(200, json=WS))
    response = await client.post(
        "/api/v1/workspaces/ws-1/executions",
        json={**BODY, "wait_seconds": 0.3},
        headers=auth("org-a", "MEMBER"),
    )
    assert response.status_code == 202
    assert len(bus.waiters) == 0


async def test_kafka_down_is_503_naming_kafka(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    upstreams.on("workspace", "GET", WS_PATH, httpx.Response(200, json=WS))
    bus.up = False
    got = assert_problem(
        await client.post(
            "/api/v1/workspaces/ws-1/executions", json=BODY, headers=auth("org-a", "MEMBER")
        ),
        503,
        "dependency_unavailable",
    )
    assert "kafka" in got["detail"]


async def test_get_execution_reads_the_org_scoped_ledger(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    ledger = {**result_for("exec-1").model_dump(mode="json"), "org_id": "org-a"}
    upstreams.on(
        "workspace",
        "GET",
        "/internal/v1/orgs/org-a/executions/exec-1",
        httpx.Response(200, json=ledger),
    )
    ok = await client.get("/api/v1/executions/exec-1", headers=auth("org-a", "MEMBER"))
    assert ok.status_code == 200
    assert ok.json()["key_id"] == "key-1"
    other = await client.get("/api/v1/executions/exec-1", headers=auth("org-b", "MEMBER"))
    assert_problem(other, 404, "not_found")
