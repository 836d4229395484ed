"""The internal HTTP API over in-memory stores (no network: ASGI transport, no Kafka)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.settings import DEV_SERVICE_TOKENS
from tests.workspace.fakes import (
    InMemoryLedgerStore,
    InMemoryRunBoundsStore,
    InMemoryWorkspaceStore,
)
from tests.workspace.support import FakeConfirmer, RecordingPublisher, key_event
from workspace.app import create_app
from workspace.settings import WorkspaceSettings

GATEWAY = {"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
KEYVAULT = {"Authorization": f"Bearer {DEV_SERVICE_TOKENS['keyvault']}"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        WorkspaceSettings(),
        store=InMemoryWorkspaceStore(),
        ledger_store=InMemoryLedgerStore(),
        bounds_store=InMemoryRunBoundsStore(),
        publisher=RecordingPublisher(),
        confirmer=FakeConfirmer(),
        kafka=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ws") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


async def test_service_credential_required(client: httpx.AsyncClient) -> None:
    r = await client.get("/internal/v1/orgs/o/workspaces")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get("/internal/v1/orgs/o/workspaces", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    # keyvault may read a workspace but not change one
    r = await client.post("/internal/v1/orgs/o/workspaces", json={"name": "x"}, headers=KEYVAULT)
    assert r.status_code == 403


async def test_workspace_crud_over_http(client: httpx.AsyncClient) -> None:
    base = "/internal/v1/orgs/org-a/workspaces"
    r = await client.post(base, json={"name": "Prod", "actor": "u1"}, headers=GATEWAY)
    assert r.status_code == 201, r.text
    ws = r.json()
    assert set(ws) == {
        "id",
        "org_id",
        "name",
        "ai_provider_ids",
        "created_at",
        "budget_usd_monthly",
        "spent_usd_month",
        "routing",
        "max_tokens_cap",
    }
    assert ws["ai_provider_ids"] == []
    r = await client.post(base, json={"name": "prod"}, headers=GATEWAY)
    assert (r.status_code, r.json()["code"]) == (409, "name_taken")
    await client.app.state.workspaces.on_key_changed(key_event("k1", "org-a"))  # type: ignore[attr-defined]
    r = await client.patch(
        f"{base}/{ws['id']}", json={"ai_provider_ids": ["k1"], "actor": "u1"}, headers=GATEWAY
    )
    assert r.json()["ai_provider_ids"] == ["k1"]
    r = await client.patch(
        f"{base}/{ws['id']}", json={"ai_provider_ids": ["k1", "k-x"]}, headers=GATEWAY
    )
    assert (r.status_code, r.json()["code"]) == (422, "unknown_ai_provider")
    assert "k-x" in r.json()["detail"]
    for malformed in ("", "a/b", "x" * 129):
        r = await client.patch(
            f"{base}/{ws['id']}", json={"ai_provider_ids": [malformed]}, headers=GATEWAY
        )
        assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = await client.get(f"{base}/{ws['id']}/models", headers=GATEWAY)
    assert {m["provider"] for m in r.json()["items"]} == {"anthropic"}
    r = await client.get(f"/internal/v1/orgs/org-b/workspaces/{ws['id']}", headers=KEYVAULT)
    assert r.status_code == 404
    r = await client.get(f"{base}/{ws['id']}", headers=KEYVAULT)
    assert r.status_code == 200
    r = await client.delete(f"{base}/{ws['id']}", headers=GATEWAY)
    assert r.status_code == 204
    r = await client.get(base, headers=GATEWAY)
    assert r.json() == {"items": []}


async def test_bad_input_is_a_clear_4xx(client: httpx.AsyncClient) -> None:
    base = "/internal/v1/orgs/org-a"
    r = await client.post(f"{base}/workspaces", json={"name": ""}, headers=GATEWAY)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = await client.post(f"{base}/workspaces", content=b"{not json", headers=GATEWAY)
    assert r.status_code == 422
    r = await client.get(f"{base}/usage?since=yesterday", headers=GATEWAY)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = await client.get(f"{base}/usage?group_by=planet", headers=GATEWAY)
    assert r.status_code == 422
    r = await client.get(
        f"{base}/usage?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z", headers=GATEWAY
    )
    assert r.status_code == 422
    r = await client.put(f"{base}/plan", json={"plan": "gold"}, headers=GATEWAY)
    assert (r.status_code, r.json()["code"]) == (422, "unknown_plan")
    r = await client.get(f"{base}/executions/nope", headers=GATEWAY)
    assert r.status_code == 404
    r = await client.post(
        f"{base}/workspaces", content=b'{"name": "' + b"x" * (1 << 20) + b'"}', headers=GATEWAY
    )
    assert r.status_code == 413


async def test_plan_shape(client: httpx.AsyncClient) -> None:
    r = await client.put(
        "/internal/v1/orgs/org-p/plan", json={"plan": "enterprise"}, headers=GATEWAY
    )
    assert r.status_code == 200
    assert r.json() == {
        "plan": "enterprise",
        "limits": {"provider_keys": None, "workspaces": None},
        "usage": {"workspaces": 0, "executions_this_month": 0, "cost_usd_this_month": 0.0},
    }


async def test_healthz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
