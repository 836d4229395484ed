"""Settings need OWNER (403 `forbidden` otherwise); members read and run; admin route."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.support import FakeUpstreams, assert_problem, auth

WS = {
    "id": "ws-1",
    "org_id": "org-a",
    "name": "Sales",
    "ai_provider_ids": [],
    "created_at": "2026-01-05T10:00:00Z",
}

OWNER_ONLY = [
    ("GET", "/api/v1/ai-providers", None),
    (
        "POST",
        "/api/v1/ai-providers",
        {"provider": "openai", "name": "n", "api_key": "sk-abcdefgh1234"},
    ),
    ("PATCH", "/api/v1/ai-providers/key-1", {"name": "x"}),
    ("DELETE", "/api/v1/ai-providers/key-1", None),
    ("POST", "/api/v1/workspaces", {"name": "w"}),
    ("PATCH", "/api/v1/workspaces/ws-1", {"name": "w2"}),
    ("DELETE", "/api/v1/workspaces/ws-1", None),
    ("GET", "/api/v1/plan", None),
    ("GET", "/api/v1/usage", None),
    ("GET", "/api/v1/audit", None),
]


@pytest.mark.parametrize("role", ["ADMIN", "MEMBER"])
@pytest.mark.parametrize(("method", "path", "body"), OWNER_ONLY)
async def test_settings_need_owner(
    client: httpx.AsyncClient,
    upstreams: FakeUpstreams,
    role: str,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    response = await client.request(method, path, json=body, headers=auth("org-a", role))
    assert_problem(response, 403, "forbidden")
    assert upstreams.seen == []  # refused before any internal call


async def test_forbidden_comes_before_validation(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/ai-providers", json={"bogus": 1}, headers=auth("org-a", "MEMBER")
    )
    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize("role", ["OWNER", "ADMIN", "MEMBER"])
async def test_members_read_workspaces_and_models(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, role: str
) -> None:
    base = "/internal/v1/orgs/org-a/workspaces"
    upstreams.on("workspace", "GET", base, httpx.Response(200, json={"items": [WS]}))
    upstreams.on("workspace", "GET", f"{base}/ws-1", httpx.Response(200, json=WS))
    models = {"items": [{"id": "gpt-5", "provider": "openai", "best_for": "x"}]}
    upstreams.on("workspace", "GET", f"{base}/ws-1/models", httpx.Response(200, json=models))
    headers = auth("org-a", role)
    listed = await client.get("/api/v1/workspaces", headers=headers)
    assert listed.status_code == 200
    shown = {k: v for k, v in WS.items() if k != "org_id"}
    # Fields added since (issue 16) have defaults when the upstream does not send them.
    assert listed.json() == {
        "items": [
            {
                **shown,
                "budget_usd_monthly": None,
                "spent_usd_month": 0.0,
                "routing": {},
                "max_tokens_cap": None,
            }
        ]
    }
    assert (await client.get("/api/v1/workspaces/ws-1", headers=headers)).status_code == 200
    got = await client.get("/api/v1/workspaces/ws-1/models", headers=headers)
    assert got.json() == models


async def test_org_comes_from_the_token(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    await client.get("/api/v1/workspaces?org_id=org-b", headers=auth("org-a", "MEMBER"))
    assert [r.url.path for r in upstreams.seen] == ["/internal/v1/orgs/org-a/workspaces"]


async def test_internal_calls_carry_the_gateway_service_token(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    await client.get("/api/v1/workspaces", headers=auth("org-a", "MEMBER"))
    assert upstreams.seen[0].headers["authorization"] == "Bearer dev-only-gateway-service-token"


async def test_admin_route_needs_platform_admin(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    body = {"plan": "team"}
    refused = await client.put("/api/v1/admin/orgs/org-b/plan", json=body, headers=auth("org-a"))
    assert_problem(refused, 403, "forbidden")
    plan = {
        "plan": "team",
        "limits": {"provider_keys": 10, "workspaces": 25},
        "usage": {"workspaces": 1, "executions_this_month": 0, "cost_usd_this_month": 0.0},
    }
    upstreams.on("workspace", "PUT", "/internal/v1/orgs/org-b/plan", httpx.Response(200, json=plan))
    upstreams.on(
        "keyvault",
        "GET",
        "/internal/v1/orgs/org-b/keys-count",
        httpx.Response(200, json={"active": 2}),
    )
    done = await client.put(
        "/api/v1/admin/orgs/org-b/plan", json=body, headers=auth("org-a", platform_admin=True)
    )
    assert done.status_code == 200, done.text
    assert done.json()["usage"]["provider_keys"] == 2
    assert done.json()["limits"] == {"provider_keys": 10, "workspaces": 25}
