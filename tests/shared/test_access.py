"""Request ids, the JSON access log and the per-route HTTP metrics (shared.access/metrics)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from shared.access import install_telemetry
from shared.logging import JsonFormatter
from shared.metrics import new_registry
from shared.web import ProblemError, install_problem_handlers

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "broken":
            raise ProblemError(503, "dependency_unavailable", "upstream is down")
        return {"id": thing_id}

    install_telemetry(app, new_registry())
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_valid_incoming_request_id_is_kept_and_a_bad_one_replaced() -> None:
    async with client(make_app()) as c:
        kept = await c.get("/things/a", headers={"X-Request-Id": "req-123.abc"})
        assert kept.headers["x-request-id"] == "req-123.abc"
        bad = await c.get("/things/a", headers={"X-Request-Id": "no spaces\tor tabs"})
        assert bad.headers["x-request-id"] not in ("", "no spaces\tor tabs")
        fresh = await c.get("/things/a")
        assert len(fresh.headers["x-request-id"]) >= 16
        assert fresh.headers["x-request-id"] != bad.headers["x-request-id"]


async def test_a_problem_names_its_request_in_instance() -> None:
    async with client(make_app()) as c:
        got = await c.get("/things/broken", headers={"X-Request-Id": "rid-42"})
        assert got.status_code == 503
        assert got.headers["x-request-id"] == "rid-42"
        assert got.json()["instance"] == "urn:flowtrux:request:rid-42"


async def test_the_access_log_is_json_with_route_template_and_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="flowtrux.access")
    async with client(make_app()) as c:
        await c.get(
            "/things/xyz",
            headers={"X-Request-Id": "rid-7", "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
        )
        await c.get("/healthz")
    records = [r for r in caplog.records if r.name == "flowtrux.access"]
    assert len(records) == 1
    line = json.loads(JsonFormatter("test").format(records[0]))
    assert line["method"] == "GET"
    assert line["route"] == "/things/{thing_id}"
    assert line["status"] == 200
    assert line["request_id"] == "rid-7"
    assert line["trace_id"] == TRACE
    assert isinstance(line["duration_ms"], float)


async def test_metrics_count_by_route_template_with_process_and_gc_series() -> None:
    async with client(make_app()) as c:
        for thing in ("a", "b", "broken"):
            await c.get(f"/things/{thing}")
        text = (await c.get("/metrics")).text
    ok = 'flowtrux_http_requests_total{method="GET",route="/things/{thing_id}",status="200"} 2.0'
    assert ok in text
    assert 'flowtrux_http_errors_total{method="GET",route="/things/{thing_id}"} 1.0' in text
    assert (
        'flowtrux_http_request_duration_seconds_count{method="GET",route="/things/{thing_id}"}'
        in text
    )
    assert "/things/a" not in text
    assert "process_resident_memory_bytes" in text
    assert "python_gc_collections_total" in text


async def test_direct_only_metrics_refuse_requests_that_came_through_a_proxy() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    install_telemetry(app, new_registry(), direct_only=True)
    async with client(app) as c:
        assert (await c.get("/metrics")).status_code == 200
        for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
            proxied = await c.get("/metrics", headers={header: "203.0.113.7"})
            assert proxied.status_code == 404, header
            assert "flowtrux_http" not in proxied.text
