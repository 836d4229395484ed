"""One test run is one trace: gateway → Kafka → runner → keyvault → provider → result →
gateway, exported by every service to a real OpenTelemetry Collector (tests/support/otelcol)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.e2e import E2E, ROOT, add_key, add_workspace, wait_for
from tests.support.otelcol import Span

pytestmark = pytest.mark.e2e
SERVICES = {"gateway", "agent-runner", "keyvault", "workspace"}
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP span kinds


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def describe(spans: list[Span]) -> str:
    return "\n".join(f"{s.service:13} {s.kind} {s.name}" for s in spans)


async def test_one_test_run_is_one_trace_across_all_four_services(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    assert e2e.collector is not None
    _org, client = owner
    key = await add_key(client, "anthropic", "Traced", e2e.canary("anthropic"))
    ws = await add_workspace(client, "Traced", [key["id"]])
    response = await client.post(
        f"/workspaces/{ws['id']}/executions",
        json={
            "model": "claude-haiku-4-5",
            "input": {"messages": [{"role": "user", "content": "trace me"}], "max_tokens": 16},
            "wait_seconds": 30,
        },
    )
    assert response.status_code == 200, response.text
    execution_id = response.json()["execution_id"]
    collector = e2e.collector

    def by_execution() -> list[Span]:
        return [
            s
            for s in collector.spans()
            if s.attributes.get("flowtrux.execution_id") == execution_id
        ]

    async def trace_complete() -> list[Span] | None:
        marked = by_execution()
        if not marked:
            return None
        trace_ids = {s.trace_id for s in marked}
        assert len(trace_ids) == 1, f"the execution's spans are in {len(trace_ids)} traces"
        spans = [s for s in collector.spans() if s.trace_id in trace_ids]
        services = {s.service for s in spans}
        provider_calls = [
            s
            for s in spans
            if s.service == "agent-runner" and s.kind == CLIENT and "POST" in s.name
        ]
        result_consumed = [s for s in spans if s.service == "gateway" and s.kind == CONSUMER]
        if services >= SERVICES and provider_calls and result_consumed:
            return spans
        return None

    try:
        spans = await wait_for(trace_complete, timeout=20, interval=0.3)
    except AssertionError:
        pytest.fail(f"incomplete trace; spans of the execution:\n{describe(by_execution())}")

    names = {(s.service, s.kind, s.name) for s in spans}
    # The test-run route, the request on Kafka and its processing, the key resolution in
    # keyvault, the result on Kafka and its delivery to the waiting route.
    assert any(
        svc == "gateway" and kind == SERVER and "executions" in name for svc, kind, name in names
    )
    assert any(svc == "gateway" and kind == PRODUCER for svc, kind, name in names)
    assert any(svc == "agent-runner" and kind == CONSUMER for svc, kind, name in names)
    assert any(
        svc == "keyvault" and kind == SERVER and "resolve" in name for svc, kind, name in names
    )
    assert any(svc == "agent-runner" and kind == PRODUCER for svc, kind, name in names)
    assert any(svc == "workspace" and kind == SERVER for svc, kind, name in names)
    # Parent links hold: every span but the root has its parent in the trace.
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_id or s.parent_id not in ids]
    assert len(roots) == 1, f"more than one root:\n{describe(roots)}"
    assert roots[0].service == "gateway"
    # The gateway's access log line of the test run names the same trace.
    log = (ROOT / ".local" / "logs" / f"{e2e.log_prefix}gateway.log").read_text()
    access = [
        entry
        for entry in map(_json_or_none, log.splitlines())
        if entry and entry.get("logger") == "flowtrux.access" and entry.get("method") == "POST"
    ]
    assert any(a.get("trace_id") == spans[0].trace_id for a in access), access[-3:]
    print(f"\ntrace {spans[0].trace_id}:\n{describe(spans)}")
