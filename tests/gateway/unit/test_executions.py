"""Test runs: workspace checked first, ExecutionRequested published, optional wait."""

from __future__ import annotations

import asyncio
import json
from typing import Any

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


RUNS_PATH = "/internal/v1/orgs/org-a/test-runs"


def refused(
    status: int, code: str, detail: str, retry_after_s: int | None = None
) -> dict[str, Any]:
    return {
        "refused": {
            "status": status,
            "code": code,
            "detail": detail,
            "retry_after_s": retry_after_s,
        }
    }


def refusing(answer: dict[str, Any]) -> Any:
    """workspace refusing every test run of a batch with `answer`."""

    def handle(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        return httpx.Response(200, json={"items": [answer for _ in items]})

    return handle


class Admissions:
    """workspace's test-run admissions, played in memory: keys bind the first execution."""

    def __init__(self) -> None:
        self.claims: dict[str, tuple[str, str]] = {}
        self.seen: list[dict[str, Any]] = []
        self.calls = 0
        self.released: list[str] = []

    def admit(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        items = json.loads(request.content)["items"]
        self.seen.extend(items)
        return httpx.Response(200, json={"items": [self._one(item) for item in items]})

    def _one(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["workspace_id"] != "ws-1":
            return refused(404, "not_found", "workspace not found")
        key = body.get("idempotency_key")
        if key is None:
            return {"execution_id": body["execution_id"], "replay": False}
        if key in self.claims:
            execution_id, body_hash = self.claims[key]
            if body_hash != body["body_hash"]:
                return refused(409, "idempotency_conflict", "used with another request body")
            return {"execution_id": execution_id, "replay": True}
        self.claims[key] = (body["execution_id"], body["body_hash"])
        return {"execution_id": body["execution_id"], "replay": False}

    def release(self, request: httpx.Request) -> httpx.Response:
        key = request.url.path.rsplit("/", 1)[-1]
        self.released.append(key)
        self.claims.pop(key, None)
        return httpx.Response(204)


def admitting(upstreams: FakeUpstreams) -> Admissions:
    admissions = Admissions()
    upstreams.on("workspace", "POST", RUNS_PATH, admissions.admit)
    upstreams.on(
        "workspace", "DELETE", "/internal/v1/orgs/org-a/idempotency-keys/K1", admissions.release
    )
    return admissions


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
    admitting(upstreams)
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
    admitting(upstreams)

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
    admitting(upstreams)

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


async def test_results_not_waited_for_are_skipped_by_their_kafka_key() -> None:
    from gateway.events import KafkaExecutionBus
    from gateway.settings import GatewaySettings

    settings = GatewaySettings()
    bus = KafkaExecutionBus(settings, settings.topics)
    a = bus.waiters.add("org-a", "exec-1")
    b = bus.waiters.add("org-b", "exec-1")  # the same id in another org
    assert bus.waiters.awaits("exec-1")
    assert not bus.waiters.awaits("exec-2")
    # Not ours by its key: skipped without parsing (this value would not even parse).
    bus._on_result(b"not json", None, b"exec-2")
    raw = result_for("exec-1", "org-a").model_dump_json().encode()
    bus._on_result(raw, None, b"exec-1")
    assert a.done()
    assert not b.done()
    assert bus.waiters.awaits("exec-1")  # org-b still waits
    bus.waiters.discard("org-b", "exec-1", b)
    assert not bus.waiters.awaits("exec-1")
    assert len(bus.waiters) == 0


async def test_wait_times_out_to_202(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    admitting(upstreams)
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
    admitting(upstreams)
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


RUN = "/api/v1/workspaces/ws-1/executions"


async def test_the_same_idempotency_key_and_body_answer_the_same_execution_once(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    admissions = admitting(upstreams)
    first = await client.post(
        RUN, json=BODY, headers={**auth("org-a", "MEMBER"), "Idempotency-Key": "K1"}
    )
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    ledger = {**result_for(first.json()["execution_id"]).model_dump(mode="json")}
    upstreams.on(
        "workspace",
        "GET",
        f"/internal/v1/orgs/org-a/executions/{first.json()['execution_id']}",
        httpx.Response(200, json=ledger),
    )
    again = await client.post(
        RUN,
        json={**BODY, "wait_seconds": 1},
        headers={**auth("org-a", "MEMBER"), "Idempotency-Key": "K1"},
    )
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["execution_id"] == first.json()["execution_id"]
    assert again.json()["status"] == "succeeded"
    assert len(bus.published) == 1  # no second request, so no second provider call
    # wait_seconds is not part of what the key binds; model and input are.
    assert admissions.seen[0]["body_hash"] == admissions.seen[1]["body_hash"]


async def test_a_replay_of_a_run_still_in_flight_is_the_same_queued_execution(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    admitting(upstreams)
    headers = {**auth("org-a", "MEMBER"), "Idempotency-Key": "K1"}
    first, second = await asyncio.gather(
        client.post(RUN, json=BODY, headers=headers), client.post(RUN, json=BODY, headers=headers)
    )
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json() == second.json()
    assert len(bus.published) == 1


async def test_the_same_key_with_another_body_is_409(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    admitting(upstreams)
    headers = {**auth("org-a", "MEMBER"), "Idempotency-Key": "K1"}
    await client.post(RUN, json=BODY, headers=headers)
    other = {**BODY, "model": "claude-haiku-4-5"}
    assert_problem(await client.post(RUN, json=other, headers=headers), 409, "idempotency_conflict")
    assert len(bus.published) == 1


async def test_a_malformed_idempotency_key_is_422(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    admitting(upstreams)
    for bad in ("x" * 256, "has space"):
        response = await client.post(
            RUN, json=BODY, headers={**auth("org-a", "MEMBER"), "Idempotency-Key": bad}
        )
        got = assert_problem(response, 422, "validation_error")
        assert "Idempotency-Key" in got["detail"]


async def test_a_failed_publish_releases_the_key(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    admissions = admitting(upstreams)
    bus.up = False
    headers = {**auth("org-a", "MEMBER"), "Idempotency-Key": "K1"}
    assert_problem(
        await client.post(RUN, json=BODY, headers=headers), 503, "dependency_unavailable"
    )
    assert admissions.released == ["K1"]
    bus.up = True
    retried = await client.post(RUN, json=BODY, headers=headers)
    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried.headers
    assert len(bus.published) == 1


async def test_rate_limited_passes_through_with_retry_after(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    limited = refused(429, "rate_limited", "this organization may start 60 test runs per 60 s", 17)
    upstreams.on("workspace", "POST", RUNS_PATH, refusing(limited))
    response = await client.post(RUN, json=BODY, headers=auth("org-a", "MEMBER"))
    got = assert_problem(response, 429, "rate_limited")
    assert "60 test runs per 60 s" in got["detail"]
    assert response.headers["Retry-After"] == "17"
    assert bus.published == []


async def test_over_the_cap_is_422_naming_the_cap(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    capped = refused(
        422,
        "validation_error",
        "input.max_tokens: 64 is above this workspace's cap of 32 (max_tokens_cap)",
    )
    upstreams.on("workspace", "POST", RUNS_PATH, refusing(capped))
    got = assert_problem(
        await client.post(RUN, json=BODY, headers=auth("org-a", "MEMBER")), 422, "validation_error"
    )
    assert "cap of 32" in got["detail"]
    assert bus.published == []


def recording(upstreams: FakeUpstreams) -> list[int]:
    """workspace's recording of test-run results: each answered as its ledger would (named
    here "Prod key", which the answer from Kafka alone never has); the size of each call."""
    calls: list[int] = []

    def record(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        calls.append(len(items))
        return httpx.Response(200, json={"items": [{**i, "key_name": "Prod key"} for i in items]})

    upstreams.on("workspace", "POST", "/internal/v1/orgs/org-a/executions/results", record)
    return calls


async def run_concurrently(
    client: httpx.AsyncClient, bus: InMemoryExecutionBus, workspaces: list[str]
) -> list[httpx.Response]:
    """One test run per workspace at once, each waited for; the runner answers each run."""
    answered: set[str] = set()

    async def runner() -> None:
        while len(answered) < len(workspaces):
            for event in list(bus.published):
                if event.execution_id not in answered:
                    answered.add(event.execution_id)
                    bus.deliver(result_for(event.execution_id, text=event.execution_id))
            await asyncio.sleep(0.005)

    task = asyncio.create_task(runner())
    try:
        return list(
            await asyncio.gather(
                *(
                    client.post(
                        f"/api/v1/workspaces/{ws}/executions",
                        json={**BODY, "wait_seconds": 2},
                        headers=auth("org-a", "MEMBER"),
                    )
                    for ws in workspaces
                )
            )
        )
    finally:
        task.cancel()


async def test_concurrent_test_runs_reach_workspace_together(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    """Concurrent runs share admission and recording calls; each gets its own answer, as
    workspace recorded it."""
    admissions, recordings = admitting(upstreams), recording(upstreams)
    answers = await run_concurrently(client, bus, ["ws-1"] * 12)
    assert [a.status_code for a in answers] == [200] * 12, answers[0].text
    for answer in answers:
        assert answer.json()["output"]["text"] == answer.json()["execution_id"]
        assert answer.json()["key_name"] == "Prod key"  # recorded, not answered from Kafka
    assert len(admissions.seen) == 12
    assert admissions.calls < 12
    assert sum(recordings) == 12
    assert len(recordings) < 12


async def test_a_refusal_in_a_shared_call_is_that_runs_alone(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    admissions = admitting(upstreams)
    recording(upstreams)
    answers = await run_concurrently(client, bus, ["ws-1", "ws-gone", "ws-1", "ws-gone"])
    assert admissions.calls < 4
    assert [a.status_code for a in answers] == [200, 404, 200, 404]
    for gone in answers[1::2]:
        assert gone.json()["detail"] == "workspace not found"
    assert len(bus.published) == 2


async def test_a_failed_shared_call_fails_only_its_runs(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> None:
    """workspace down while admitting: every run of that call is a 503, none is published;
    back up, the next runs go ahead (nothing is left waiting)."""
    upstreams.down.add("workspace")
    answers = await run_concurrently(client, bus, ["ws-1"] * 3)
    assert {a.status_code for a in answers} == {503}
    assert bus.published == []
    upstreams.down.clear()
    admitting(upstreams)
    answers = await run_concurrently(client, bus, ["ws-1"] * 3)
    # Recording is not answered (no route): each run is answered from Kafka instead.
    assert [a.status_code for a in answers] == [200] * 3
    assert all(a.json()["key_name"] is None for a in answers)
