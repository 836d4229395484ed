"""Budgets, expiry and alerts at the gateway: validation (422) and what reaches upstream."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.gateway.support import FakeUpstreams, auth

KEY = {
    "id": "key-1",
    "org_id": "org-a",
    "provider": "anthropic",
    "name": "Prod",
    "preview": "sk-ant-…abcd",
    "status": "active",
    "created_at": "2026-11-01T00:00:00Z",
    "created_by": "u",
    "last_used_at": None,
    "budget_usd_monthly": 100.0,
    "expires_at": None,
    "spent_usd_month": 12.5,
}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"budget_usd_monthly": -1}, "budget_usd_monthly"),
        ({"budget_usd_monthly": 0}, "budget_usd_monthly"),
        ({"budget_usd_monthly": 10_000_001}, "budget_usd_monthly"),
        ({"expires_at": "2027-01-01T00:00:00"}, "expires_at"),  # no time zone
    ],
)
async def test_absurd_budgets_and_unzoned_expiries_are_422(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, body: dict[str, object], field: str
) -> None:
    create = {"provider": "anthropic", "name": "n", "api_key": "sk-ant-api03-" + "x" * 20}
    r = await client.post("/api/v1/ai-providers", json={**create, **body}, headers=auth("org-a"))
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
    r = await client.patch("/api/v1/ai-providers/key-1", json=body, headers=auth("org-a"))
    assert r.status_code == 422
    r = await client.patch("/api/v1/workspaces/ws-1", json=body, headers=auth("org-a"))
    if field == "budget_usd_monthly":
        assert r.status_code == 422
    assert not upstreams.seen


async def test_a_null_budget_clears_it_and_an_unsent_one_is_left_alone(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    upstreams.on(
        "keyvault", "PATCH", "/internal/v1/orgs/org-a/keys/key-1", httpx.Response(200, json=KEY)
    )
    r = await client.patch(
        "/api/v1/ai-providers/key-1", json={"budget_usd_monthly": None}, headers=auth("org-a")
    )
    assert r.status_code == 200, r.text
    assert r.json()["spent_usd_month"] == 12.5
    sent = json.loads(upstreams.seen[-1].content)
    assert sent["budget_usd_monthly"] is None
    assert "expires_at" not in sent
    r = await client.patch(
        "/api/v1/ai-providers/key-1",
        json={"expires_at": "2030-01-01T00:00:00Z"},
        headers=auth("org-a"),
    )
    sent = json.loads(upstreams.seen[-1].content)
    assert sent == {"expires_at": "2030-01-01T00:00:00Z", "verify": False, "actor": sent["actor"]}


async def test_alerts_are_paged_from_keyvault_for_owners_only(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    alert = {
        "org_id": "org-a",
        "alert_id": "budget:key:key-1:2026-11:50",
        "kind": "budget",
        "scope": "key",
        "scope_id": "key-1",
        "threshold_pct": 50,
        "month": "2026-11",
        "budget_usd": 100.0,
        "spent_usd": 50.5,
        "expires_at": None,
        "message": "Provider key 'Prod' has spent $50.50 of its $100.00 monthly budget (50 %).",
        "at": "2026-11-30T00:00:00Z",
    }
    upstreams.on(
        "keyvault",
        "GET",
        "/internal/v1/orgs/org-a/alerts",
        httpx.Response(200, json={"items": [alert], "next_cursor": None}),
    )
    r = await client.get("/api/v1/alerts?limit=5", headers=auth("org-a"))
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["threshold_pct"] == 50
    assert "org_id" not in r.json()["items"][0]
    assert upstreams.seen[-1].url.params["limit"] == "5"
    r = await client.get("/api/v1/alerts", headers=auth("org-a", role="MEMBER"))
    assert r.status_code == 403
