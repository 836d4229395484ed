"""problem+json everywhere: unknown routes, methods, fields, big bodies, and upstream errors."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import create_app
from tests.gateway.fakes import InMemoryExecutionBus
from tests.gateway.support import (
    FakeUpstreams,
    asgi_client,
    assert_problem,
    auth,
    gateway_settings,
    problem,
    problem_content,
)

KEYS = "/internal/v1/orgs/org-a/keys"
CANARY = "sk-ant-api03-CANARY-problem-0123456789abcdef"


async def test_unknown_route_is_problem_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nope", headers=auth("org-a")), 404, "not_found")


async def test_wrong_method_is_problem_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/plan", headers=auth("org-a"))
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_unknown_field_is_422(client: httpx.AsyncClient, upstreams: FakeUpstreams) -> None:
    body = {"provider": "openai", "name": "n", "api_key": CANARY, "colour": "red"}
    response = await client.post("/api/v1/ai-providers", json=body, headers=auth("org-a"))
    problem_body = assert_problem(response, 422, "validation_error")
    assert "colour" in problem_body["detail"]
    assert CANARY not in response.text
    assert upstreams.seen == []


async def test_unknown_nested_field_is_422(client: httpx.AsyncClient) -> None:
    body = {"model": "gpt-5", "input": {"messages": [{"role": "user", "content": "hi", "x": 1}]}}
    response = await client.post(
        "/api/v1/workspaces/ws-1/executions", json=body, headers=auth("org-a", "MEMBER")
    )
    assert_problem(response, 422, "validation_error")


async def test_invalid_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/workspaces",
        content=b"{not json",
        headers={**auth("org-a"), "content-type": "application/json"},
    )
    assert_problem(response, 422, "validation_error")


async def test_wait_seconds_bounded(client: httpx.AsyncClient) -> None:
    body = {
        "model": "gpt-5",
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "wait_seconds": 61,
    }
    response = await client.post(
        "/api/v1/workspaces/ws-1/executions", json=body, headers=auth("org-a", "MEMBER")
    )
    assert_problem(response, 422, "validation_error")


async def test_body_too_large_is_413(upstreams: FakeUpstreams) -> None:
    app = create_app(
        gateway_settings(gateway_max_body_bytes=2048),
        bus=InMemoryExecutionBus(),
        transport=upstreams.transport(),
    )
    async with asgi_client(app) as client:
        body = {"name": "x" * 5000}
        response = await client.post("/api/v1/workspaces", json=body, headers=auth("org-a"))
    assert_problem(response, 413, "payload_too_large")
    assert upstreams.seen == []


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (409, "plan_limit_reached"),
        (409, "name_taken"),
        (422, "key_rejected"),
        (422, "validation_error"),
        (503, "provider_unreachable"),
    ],
)
async def test_upstream_problem_codes_pass_through(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, status: int, code: str
) -> None:
    upstreams.on("keyvault", "POST", KEYS, problem(status, code, f"because {code}"))
    body = {"provider": "anthropic", "name": "Prod", "api_key": CANARY, "verify": True}
    response = await client.post("/api/v1/ai-providers", json=body, headers=auth("org-a"))
    got = assert_problem(response, status, code)
    assert got["detail"] == f"because {code}"
    sent = upstreams.seen[0]
    assert sent.url.path == KEYS
    assert b'"actor":"user-1"' in sent.content.replace(b" ", b"")


@pytest.mark.parametrize("service", ["keyvault", "workspace"])
async def test_dependency_down_is_503_naming_it(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, service: str
) -> None:
    upstreams.down.add(service)
    path = "/api/v1/ai-providers" if service == "keyvault" else "/api/v1/workspaces"
    got = assert_problem(
        await client.get(path, headers=auth("org-a")), 503, "dependency_unavailable"
    )
    assert service in got["detail"]


async def test_dependency_timeout_is_503(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    upstreams.on("workspace", "GET", "/internal/v1/orgs/org-a/workspaces", slow)
    got = assert_problem(
        await client.get("/api/v1/workspaces", headers=auth("org-a")),
        503,
        "dependency_unavailable",
    )
    assert "workspace" in got["detail"]


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_upstream_5xx_is_503_not_500(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, status: int
) -> None:
    upstreams.on("keyvault", "GET", KEYS, httpx.Response(status, text="boom"))
    got = assert_problem(
        await client.get("/api/v1/ai-providers", headers=auth("org-a")),
        503,
        "dependency_unavailable",
    )
    assert "keyvault" in got["detail"]


async def test_upstream_404_has_one_fixed_body(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    upstreams.on(
        "workspace",
        "GET",
        "/internal/v1/orgs/org-a/workspaces/ws-x",
        problem(404, "not_found", "workspace ws-x is in org-b"),
    )
    first = await client.get("/api/v1/workspaces/ws-x", headers=auth("org-a"))
    other = await client.get("/api/v1/workspaces/ws-y", headers=auth("org-a"))
    assert_problem(first, 404, "not_found")
    assert problem_content(first) == problem_content(other)
    assert first.json()["instance"] != other.json()["instance"]  # each names its own request
    assert "org-b" not in first.text


@pytest.mark.parametrize("bad", ["..", "a b", "%2F..%2Fx", "-x", "x" * 200])
async def test_malformed_path_id_is_404(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, bad: str
) -> None:
    response = await client.get(f"/api/v1/workspaces/{bad}", headers=auth("org-a"))
    assert response.status_code == 404
    # Refused before any upstream is asked: a malformed id never reaches keyvault or workspace.
    assert upstreams.seen == []


async def test_upstream_credential_refused_is_503(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    upstreams.on("keyvault", "GET", KEYS, problem(401, "unauthorized"))
    assert_problem(
        await client.get("/api/v1/ai-providers", headers=auth("org-a")),
        503,
        "dependency_unavailable",
    )


async def test_provider_key_never_echoes_secret_fields(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    stored = {
        "id": "key-1",
        "org_id": "org-a",
        "provider": "anthropic",
        "name": "Prod",
        "preview": "sk-ant-…cdef",
        "status": "active",
        "created_at": "2026-01-05T10:00:00Z",
        "created_by": "user-1",
        "last_used_at": None,
        "api_key": CANARY,
    }
    upstreams.on("keyvault", "POST", KEYS, httpx.Response(201, json=stored))
    body = {"provider": "anthropic", "name": "Prod", "api_key": CANARY}
    response = await client.post("/api/v1/ai-providers", json=body, headers=auth("org-a"))
    assert response.status_code == 201
    assert set(response.json()) == {
        "id",
        "provider",
        "name",
        "preview",
        "created_at",
        "created_by",
        "last_used_at",
        "budget_usd_monthly",
        "expires_at",
        "spent_usd_month",
    }
    assert CANARY not in response.text
