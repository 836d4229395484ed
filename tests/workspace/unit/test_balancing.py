"""Issue 16 items 4–5 in workspace: routing per provider (validated, stored, published), the
max_tokens cap, and admitting test runs (cap, per-org rate limit, Idempotency-Key)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.settings import DEV_SERVICE_TOKENS
from tests.workspace.fakes import (
    InMemoryLedgerStore,
    InMemoryRunBoundsStore,
    InMemoryWorkspaceStore,
)
from tests.workspace.support import FakeConfirmer, RecordingPublisher, key_event, result_event
from workspace.app import create_app
from workspace.domain import window_of
from workspace.settings import WorkspaceSettings

GATEWAY = {"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
BASE = "/internal/v1/orgs/org-a/workspaces"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        WorkspaceSettings(test_run_rate_limit=3, test_run_rate_window_s=3600),
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
            svc = app.state.workspaces
            for key_id, provider in (("k1", "anthropic"), ("k2", "anthropic"), ("o1", "openai")):
                await svc.on_key_changed(key_event(key_id, "org-a", provider=provider))
            yield c


async def workspace(client: httpx.AsyncClient) -> str:
    r = await client.post(BASE, json={"name": "Prod"}, headers=GATEWAY)
    ws_id: str = r.json()["id"]
    r = await client.patch(
        f"{BASE}/{ws_id}", json={"ai_provider_ids": ["k1", "k2", "o1"]}, headers=GATEWAY
    )
    assert r.status_code == 200, r.text
    return ws_id


def published(client: httpx.AsyncClient) -> RecordingPublisher:
    publisher: RecordingPublisher = client.app.state.workspaces.publisher  # type: ignore[attr-defined]
    return publisher


async def test_routing_is_stored_replied_and_published(client: httpx.AsyncClient) -> None:
    ws_id = await workspace(client)
    r = await client.get(f"{BASE}/{ws_id}", headers=GATEWAY)
    assert (r.json()["routing"], r.json()["max_tokens_cap"]) == ({}, None)
    routing = {"anthropic": {"strategy": "round_robin", "weights": {"k1": 3, "k2": 1}}}
    r = await client.patch(f"{BASE}/{ws_id}", json={"routing": routing}, headers=GATEWAY)
    assert r.status_code == 200, r.text
    assert r.json()["routing"] == routing
    event = published(client).assignments[-1]
    assert event.routing["anthropic"].strategy == "round_robin"
    assert event.routing["anthropic"].weights == {"k1": 3, "k2": 1}
    # Unassigning a weighted key prunes its weight, and the change is published.
    r = await client.patch(f"{BASE}/{ws_id}", json={"ai_provider_ids": ["k2"]}, headers=GATEWAY)
    assert r.json()["routing"] == {"anthropic": {"strategy": "round_robin", "weights": {"k2": 1}}}
    assert published(client).assignments[-1].routing["anthropic"].weights == {"k2": 1}
    # A deleted key leaves every workspace, and its weight with it.
    await client.patch(f"{BASE}/{ws_id}", json={"ai_provider_ids": ["k1", "k2"]}, headers=GATEWAY)
    routing["anthropic"]["weights"] = {"k1": 3, "k2": 1}
    await client.patch(f"{BASE}/{ws_id}", json={"routing": routing}, headers=GATEWAY)
    svc = client.app.state.workspaces  # type: ignore[attr-defined]
    await svc.on_key_changed(key_event("k1", "org-a", status="deleted"))
    r = await client.get(f"{BASE}/{ws_id}", headers=GATEWAY)
    assert r.json()["routing"]["anthropic"]["weights"] == {"k2": 1}
    assert published(client).assignments[-1].routing["anthropic"].weights == {"k2": 1}


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ({"anthropic": {"strategy": "random"}}, "unknown strategy 'random'"),
        ({"mistral": {"strategy": "ordered"}}, "unknown provider 'mistral'"),
        (
            {"anthropic": {"strategy": "round_robin", "weights": {"kx": 2}}},
            "'kx' is not one of the anthropic keys assigned",
        ),
        (
            {"anthropic": {"strategy": "round_robin", "weights": {"o1": 2}}},
            "'o1' is not one of the anthropic keys assigned",
        ),
        (
            {"anthropic": {"strategy": "round_robin", "weights": {"k1": 0}}},
            "weights.k1: must be a whole number 1–100",
        ),
        ({"anthropic": {"strategy": "round_robin", "weights": {"k1": 101}}}, "1–100"),
        ({"anthropic": {"strategy": "round_robin", "weights": {"k1": 1.5}}}, "1–100"),
        (
            {"anthropic": {"strategy": "ordered", "weights": {"k1": 2}}},
            "weights apply only to round_robin",
        ),
    ],
)
async def test_bad_routing_is_a_clear_422(
    client: httpx.AsyncClient, routing: dict[str, Any], message: str
) -> None:
    ws_id = await workspace(client)
    r = await client.patch(f"{BASE}/{ws_id}", json={"routing": routing}, headers=GATEWAY)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert message in r.json()["detail"]
    assert (await client.get(f"{BASE}/{ws_id}", headers=GATEWAY)).json()["routing"] == {}


async def test_max_tokens_cap_is_set_cleared_and_bounded(client: httpx.AsyncClient) -> None:
    ws_id = await workspace(client)
    r = await client.patch(f"{BASE}/{ws_id}", json={"max_tokens_cap": 500}, headers=GATEWAY)
    assert r.json()["max_tokens_cap"] == 500
    r = await client.patch(f"{BASE}/{ws_id}", json={"name": "Renamed"}, headers=GATEWAY)
    assert r.json()["max_tokens_cap"] == 500  # untouched when not given
    for bad in (0, 200_001, "many", True):
        r = await client.patch(f"{BASE}/{ws_id}", json={"max_tokens_cap": bad}, headers=GATEWAY)
        assert r.status_code == 422, bad
        assert "max_tokens_cap" in r.json()["detail"]
    r = await client.patch(f"{BASE}/{ws_id}", json={"max_tokens_cap": None}, headers=GATEWAY)
    assert r.json()["max_tokens_cap"] is None


def admit(
    ws_id: str,
    execution_id: str,
    *,
    body_hash: str = "h1",
    key: str | None = None,
    max_tokens: int = 100,
) -> dict[str, Any]:
    return {
        "workspace_id": ws_id,
        "execution_id": execution_id,
        "max_tokens": max_tokens,
        "body_hash": body_hash,
        "idempotency_key": key,
    }


async def admit_all(
    client: httpx.AsyncClient, *items: dict[str, Any], org: str = "org-a"
) -> list[dict[str, Any]]:
    """workspace's answer to one batch of admissions: per item, admitted or refused."""
    r = await client.post(
        f"/internal/v1/orgs/{org}/test-runs", json={"items": list(items)}, headers=GATEWAY
    )
    assert r.status_code == 200, r.text
    answers: list[dict[str, Any]] = r.json()["items"]
    assert len(answers) == len(items)
    return answers


async def admit_one(client: httpx.AsyncClient, item: dict[str, Any], org: str = "org-a") -> Any:
    [answer] = await admit_all(client, item, org=org)
    return answer if answer["refused"] else {k: answer[k] for k in ("execution_id", "replay")}


async def test_admission_enforces_the_cap_naming_it(client: httpx.AsyncClient) -> None:
    ws_id = await workspace(client)
    await client.patch(f"{BASE}/{ws_id}", json={"max_tokens_cap": 256}, headers=GATEWAY)
    refused = (await admit_one(client, admit(ws_id, "e1", max_tokens=257)))["refused"]
    assert refused["status"] == 422
    assert "cap of 256" in refused["detail"]
    assert await admit_one(client, admit(ws_id, "e2", max_tokens=256)) == {
        "execution_id": "e2",
        "replay": False,
    }


async def test_idempotency_key_replays_or_conflicts(client: httpx.AsyncClient) -> None:
    ws_id = await workspace(client)
    r = await admit_one(client, admit(ws_id, "e1", key="K"))
    assert r == {"execution_id": "e1", "replay": False}
    r = await admit_one(client, admit(ws_id, "e2", key="K"))
    assert r == {"execution_id": "e1", "replay": True}
    refused = (await admit_one(client, admit(ws_id, "e3", key="K", body_hash="other")))["refused"]
    assert (refused["status"], refused["code"]) == (409, "idempotency_conflict")
    assert "another request body" in refused["detail"]
    # Released (its publish failed): the key is free again.
    r = await client.delete(
        "/internal/v1/orgs/org-a/idempotency-keys/K", params={"execution_id": "e1"}, headers=GATEWAY
    )
    assert r.status_code == 204
    r = await admit_one(client, admit(ws_id, "e4", key="K", body_hash="other"))
    assert r == {"execution_id": "e4", "replay": False}


async def test_rate_limit_is_per_org_with_retry_after(client: httpx.AsyncClient) -> None:
    ws_id = await workspace(client)
    answers = [await admit_one(client, admit(ws_id, f"e{i}", key=f"k{i}")) for i in range(4)]
    assert [a.get("refused") is None for a in answers] == [True, True, True, False]
    limited = answers[-1]["refused"]
    assert (limited["status"], limited["code"]) == (429, "rate_limited")
    assert "3 test runs per 3600 s" in limited["detail"]
    assert 1 <= limited["retry_after_s"] <= 3600
    # A replay of an admitted request is not another run: it is answered, not limited.
    r = await admit_one(client, admit(ws_id, "e9", key="k0"))
    assert r == {"execution_id": "e0", "replay": True}
    # Another org has its own budget of runs.
    await client.app.state.workspaces.on_key_changed(key_event("kb", "org-b"))  # type: ignore[attr-defined]
    r = await client.post("/internal/v1/orgs/org-b/workspaces", json={"name": "B"}, headers=GATEWAY)
    answer = await admit_one(client, admit(r.json()["id"], "eb"), org="org-b")
    assert answer == {"execution_id": "eb", "replay": False}


async def test_a_batch_is_admitted_item_by_item_in_order(client: httpx.AsyncClient) -> None:
    """One call, each item answered as a call of its own would be: the rate limit counts the
    batch's runs in order, a refusal is that item's, a replay names the earlier run."""
    ws_id = await workspace(client)
    await client.patch(f"{BASE}/{ws_id}", json={"max_tokens_cap": 256}, headers=GATEWAY)
    other = (await client.post(BASE, json={"name": "Dev"}, headers=GATEWAY)).json()["id"]
    answers = await admit_all(
        client,
        admit(ws_id, "e1", key="K"),
        admit(ws_id, "e2", max_tokens=257),  # over the cap: refused, takes no slot
        admit("ws-missing", "e3"),
        admit(ws_id, "e4", key="K"),  # the same key and body: a replay of e1, no slot
        admit(other, "e5"),
        admit(ws_id, "e6"),
        admit(ws_id, "e7"),  # the fourth run of the org in the window: limited
    )
    summary = [
        (a["refused"]["status"], a["refused"]["code"])
        if a["refused"]
        else (a["execution_id"], a["replay"])
        for a in answers
    ]
    assert summary == [
        ("e1", False),
        (422, "validation_error"),
        (404, "not_found"),
        ("e1", True),
        ("e5", False),
        ("e6", False),
        (429, "rate_limited"),
    ]


async def test_a_batch_never_admits_another_orgs_workspace(client: httpx.AsyncClient) -> None:
    ws_id = await workspace(client)  # org-a's
    [answer] = await admit_all(client, admit(ws_id, "eb"), org="org-b")
    assert (answer["refused"]["status"], answer["refused"]["code"]) == (404, "not_found")


async def test_a_batch_is_bounded_and_validated(client: httpx.AsyncClient) -> None:
    ws_id = await workspace(client)
    url = "/internal/v1/orgs/org-a/test-runs"
    bodies: list[dict[str, Any]] = [
        {"items": []},
        {"items": [admit(ws_id, f"e{i}") for i in range(257)]},
        {"items": [{**admit(ws_id, "e1"), "max_tokens": 0}]},
    ]
    for body in bodies:
        r = await client.post(url, json=body, headers=GATEWAY)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error")


def test_rate_window_says_when_to_retry() -> None:
    start, retry = window_of(datetime(2026, 11, 30, 12, 0, 45, tzinfo=UTC), 60)
    assert (start, retry) == (datetime(2026, 11, 30, 12, 0, tzinfo=UTC), 15)
    start, retry = window_of(datetime(2026, 11, 30, 12, 0, 59, 999000, tzinfo=UTC), 60)
    assert retry == 1
    assert start + timedelta(seconds=60) > datetime(2026, 11, 30, 12, 0, 59, tzinfo=UTC)


async def test_the_one_run_routes_still_answer_older_gateways(client: httpx.AsyncClient) -> None:
    """During a rolling upgrade a gateway older than the batched routes still admits and
    records its test runs one at a time, answered as before (a refusal as the status)."""
    ws_id = await workspace(client)
    await client.patch(f"{BASE}/{ws_id}", json={"max_tokens_cap": 256}, headers=GATEWAY)
    one = {"execution_id": "e1", "max_tokens": 100, "body_hash": "h1", "idempotency_key": None}
    r = await client.post(f"{BASE}/{ws_id}/test-runs", json=one, headers=GATEWAY)
    assert (r.status_code, r.json()["execution_id"], r.json()["replay"]) == (200, "e1", False)
    r = await client.post(
        f"{BASE}/{ws_id}/test-runs", json={**one, "max_tokens": 257}, headers=GATEWAY
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = await client.post(f"{BASE}/ws-gone/test-runs", json=one, headers=GATEWAY)
    assert r.status_code == 404
    url = "/internal/v1/orgs/org-a/executions/e1/result"
    r = await client.post(url, json=result_event("e1", "org-a", key_id="k1"), headers=GATEWAY)
    assert (r.status_code, r.json()["status"], r.json()["key_id"]) == (200, "succeeded", "k1")
    r = await client.post(url, json=result_event("e2", "org-a"), headers=GATEWAY)
    assert r.status_code == 422  # the path names another execution
