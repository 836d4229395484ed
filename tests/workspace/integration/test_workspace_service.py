"""The workspace service against the real Kafka broker and FerretDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymongo import AsyncMongoClient

from shared.settings import DEV_SERVICE_TOKENS
from tests.support.servers import serve
from tests.workspace.support import (
    Kafka,
    eventually,
    key_event,
    requested_event,
    result_event,
)
from workspace.app import create_app
from workspace.settings import WorkspaceSettings

pytestmark = pytest.mark.integration

GATEWAY = {"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}


def stand_in_keyvault(keys: dict[str, dict[str, Any]]) -> FastAPI:
    """The documented keyvault GET route, nothing more; checks workspace's credential."""
    app = FastAPI()

    @app.get("/internal/v1/orgs/{org_id}/keys/{key_id}")
    async def get_key(org_id: str, key_id: str, request: Request) -> JSONResponse:
        expected = f"Bearer {DEV_SERVICE_TOKENS['workspace']}"
        if request.headers.get("authorization") != expected:
            return JSONResponse({"code": "unauthorized"}, status_code=401)
        key = keys.get(key_id)
        if key is None or key["org_id"] != org_id:
            return JSONResponse({"code": "not_found"}, status_code=404)
        return JSONResponse(key)

    return app


@dataclass
class Stack:
    settings: WorkspaceSettings
    app: FastAPI
    http: httpx.AsyncClient
    kafka: Kafka
    vault_keys: dict[str, dict[str, Any]]
    mongo_url: str

    async def new_workspace(self, org: str, name: str) -> dict[str, Any]:
        r = await self.http.post(
            f"/internal/v1/orgs/{org}/workspaces", json={"name": name, "actor": "u"}
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def announce_key(
        self, key_id: str, org: str, provider: str, status: str = "active"
    ) -> None:
        await self.kafka.send(
            self.settings.topics.keys, key_id, key_event(key_id, org, provider, status)
        )

    async def wait_known(self, key_id: str, status: str = "active") -> None:
        keys = self.app.state.keys

        async def probe() -> Any:
            return keys.get(key_id)

        await eventually(probe, lambda k: k is not None and k.status == status)


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap: str, mongo_url: str) -> AsyncIterator[Stack]:
    import secrets

    unique = secrets.token_hex(4)
    vault_keys: dict[str, dict[str, Any]] = {}
    async with serve(stand_in_keyvault(vault_keys)) as vault_url:
        settings = WorkspaceSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            mongodb_url=mongo_url,
            kafka_topic_suffix=f".t{unique}",
            workspace_db=f"test_ws_{unique}",
            keyvault_url=vault_url,
            republish_interval_s=0.5,
        )
        app = create_app(settings)
        kafka = Kafka(kafka_bootstrap)
        async with serve(app) as url:
            await kafka.start()
            async with httpx.AsyncClient(base_url=url, headers=GATEWAY, timeout=30) as http:
                await eventually(
                    lambda: http.get("/readyz"), lambda r: r.status_code == 200, timeout=60
                )
                yield Stack(settings, app, http, kafka, vault_keys, mongo_url)
            await kafka.stop()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
        await client.drop_database(settings.workspace_db)
        await client.close()


async def models_of(stack: Stack, org: str, ws_id: str) -> list[str]:
    r = await stack.http.get(f"/internal/v1/orgs/{org}/workspaces/{ws_id}/models")
    assert r.status_code == 200
    return [m["provider"] for m in r.json()["items"]]


async def test_models_follow_assignments(stack: Stack, unique: str) -> None:
    org = f"org-{unique}"
    ant, oai = f"k-ant-{unique}", f"k-oai-{unique}"
    await stack.announce_key(ant, org, "anthropic")
    await stack.announce_key(oai, org, "openai")
    await stack.wait_known(ant)
    await stack.wait_known(oai)
    ws = await stack.new_workspace(org, "Models")
    assert await models_of(stack, org, ws["id"]) == []
    base = f"/internal/v1/orgs/{org}/workspaces/{ws['id']}"
    r = await stack.http.patch(base, json={"ai_provider_ids": [ant]})
    assert r.status_code == 200, r.text
    assert set(await models_of(stack, org, ws["id"])) == {"anthropic"}
    r = await stack.http.patch(base, json={"ai_provider_ids": [oai, ant]})
    assert r.json()["ai_provider_ids"] == [oai, ant]
    providers = await models_of(stack, org, ws["id"])
    assert providers == ["anthropic"] * 7 + ["openai"] * 6  # catalog order


async def test_foreign_or_deleted_key_cannot_be_assigned(stack: Stack, unique: str) -> None:
    org, other = f"org-{unique}", f"other-{unique}"
    foreign, gone = f"k-foreign-{unique}", f"k-gone-{unique}"
    await stack.announce_key(foreign, other, "anthropic")
    await stack.announce_key(gone, org, "openai")
    await stack.announce_key(gone, org, "openai", status="deleted")
    await stack.wait_known(foreign)
    await stack.wait_known(gone, "deleted")
    ws = await stack.new_workspace(org, "Guarded")
    for bad in (foreign, gone):
        r = await stack.http.patch(
            f"/internal/v1/orgs/{org}/workspaces/{ws['id']}", json={"ai_provider_ids": [bad]}
        )
        assert (r.status_code, r.json()["code"]) == (422, "unknown_ai_provider")
        assert bad in r.json()["detail"]


async def test_read_model_miss_is_confirmed_over_http(stack: Stack, unique: str) -> None:
    org = f"org-{unique}"
    fresh, foreign = f"k-fresh-{unique}", f"k-elsewhere-{unique}"
    stack.vault_keys[fresh] = {
        "id": fresh,
        "org_id": org,
        "provider": "google",
        "name": "n",
        "preview": "AIza…abcd",
        "status": "active",
        "created_at": "2026-01-01T00:00:00Z",
        "created_by": "u",
        "last_used_at": None,
    }
    stack.vault_keys[foreign] = {**stack.vault_keys[fresh], "id": foreign, "org_id": "org-x"}
    ws = await stack.new_workspace(org, "Fresh")
    base = f"/internal/v1/orgs/{org}/workspaces/{ws['id']}"
    r = await stack.http.patch(base, json={"ai_provider_ids": [fresh]})
    assert r.status_code == 200, r.text
    assert await models_of(stack, org, ws["id"]) == ["google"] * 3
    r = await stack.http.patch(base, json={"ai_provider_ids": [foreign]})
    assert r.status_code == 422


async def test_deleted_key_leaves_every_workspace(stack: Stack, unique: str) -> None:
    org = f"org-{unique}"
    k1, k2 = f"k1-{unique}", f"k2-{unique}"
    await stack.announce_key(k1, org, "anthropic")
    await stack.announce_key(k2, org, "anthropic")
    await stack.wait_known(k1)
    await stack.wait_known(k2)
    a = await stack.new_workspace(org, "A")
    b = await stack.new_workspace(org, "B")
    for ws, ids in ((a, [k1, k2]), (b, [k1])):
        r = await stack.http.patch(
            f"/internal/v1/orgs/{org}/workspaces/{ws['id']}", json={"ai_provider_ids": ids}
        )
        assert r.status_code == 200
    await stack.announce_key(k1, org, "anthropic", status="deleted")

    async def state() -> list[list[str]]:
        out = []
        for ws in (a, b):
            r = await stack.http.get(f"/internal/v1/orgs/{org}/workspaces/{ws['id']}")
            out.append(r.json()["ai_provider_ids"])
        return out

    await eventually(state, lambda s: s == [[k2], []], timeout=30)
    latest = await eventually(
        lambda: stack.kafka.latest(stack.settings.topics.assignments),
        lambda t: (
            t.get(a["id"], {}).get("key_ids") == [k2] and t.get(b["id"], {}).get("key_ids") == []
        ),
        timeout=30,
    )
    assert latest[a["id"]]["org_id"] == org


async def test_ledger_counts_duplicates_once_and_aggregates(stack: Stack, unique: str) -> None:
    org = f"org-{unique}"
    topic = stack.settings.topics.execution_result
    events = [
        result_event(f"e1-{unique}", org, key_id="ka", workspace_id="w1", cost=0.25),
        result_event(f"e1-{unique}", org, key_id="ka", workspace_id="w1", cost=0.25),
        result_event(f"e2-{unique}", org, key_id="ka", workspace_id="w2", model="gpt-5", cost=0.5),
        result_event(
            f"e3-{unique}",
            org,
            key_id="kb",
            workspace_id="w2",
            model="gpt-5",
            cost=None,
            status="failed",
            input_tokens=0,
            output_tokens=0,
        ),
    ]
    for ev in events:
        await stack.kafka.send(topic, ev["execution_id"], ev)
    await stack.kafka.send(topic, "junk", b"{not json")  # must not stop consumption
    await stack.kafka.send(
        topic, f"e4-{unique}", result_event(f"e4-{unique}", org, key_id="kb", novel="ignored")
    )
    usage = f"/internal/v1/orgs/{org}/usage"
    r = await eventually(
        lambda: stack.http.get(usage, params={"group_by": "key"}),
        lambda r: sum(i["executions"] for i in r.json()["items"]) == 4,
    )
    by_key = {i["key_id"]: i for i in r.json()["items"]}
    assert by_key["ka"] == {
        "key_id": "ka",
        "executions": 2,
        "input_tokens": 20,
        "output_tokens": 10,
        "cost_usd": 0.75,
    }
    assert by_key["kb"]["executions"] == 2
    assert by_key["kb"]["cost_usd"] == 0.001
    r = await stack.http.get(usage, params={"group_by": "workspace"})
    assert {i["workspace_id"]: i["executions"] for i in r.json()["items"]} == {
        "w1": 1,
        "w2": 2,
        "ws-1": 1,
    }
    r = await stack.http.get(usage, params={"group_by": "model"})
    assert {i["model"]: i["executions"] for i in r.json()["items"]} == {
        "claude-sonnet-4-6": 2,
        "gpt-5": 2,
    }
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await stack.http.get(usage, params={"group_by": "key", "since": future})
    assert r.json() == {"items": []}
    r = await stack.http.get(f"/internal/v1/orgs/{org}/plan")
    assert r.json()["usage"]["executions_this_month"] == 4
    assert r.json()["usage"]["cost_usd_this_month"] == pytest.approx(0.751)
    r = await stack.http.get(f"/internal/v1/orgs/{org}/executions/e3-{unique}")
    body = r.json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "provider_auth_failed"
    assert body["output"] is None
    assert set(body) == {
        "execution_id",
        "workspace_id",
        "status",
        "model",
        "provider",
        "key_id",
        "key_name",
        "output",
        "usage",
        "error",
        "duration_ms",
        "requested_at",
        "finished_at",
    }


async def test_executions_carry_the_name_of_their_key_from_the_keys_topic(
    stack: Stack, unique: str
) -> None:
    org, key = f"org-{unique}", f"kn-{unique}"
    await stack.announce_key(key, org, "anthropic")
    await stack.wait_known(key)
    url = f"/internal/v1/orgs/{org}/executions"
    recorded = await stack.http.post(
        f"{url}/results", json={"items": [result_event(f"n1-{unique}", org, key_id=key)]}
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["items"][0]["key_name"] == f"name-{key}"
    assert (await stack.http.get(f"{url}/n1-{unique}")).json()["key_name"] == f"name-{key}"
    listed = await stack.http.get(f"/internal/v1/orgs/{org}/workspaces/ws-1/executions")
    assert [i["key_name"] for i in listed.json()["items"]] == [f"name-{key}"]
    # Another org's execution naming this key id gets no name; an unknown key none either.
    other = f"org-other-{unique}"
    await stack.http.post(
        f"/internal/v1/orgs/{other}/executions/results",
        json={"items": [result_event(f"n2-{unique}", other, key_id=key)]},
    )
    foreign = await stack.http.get(f"/internal/v1/orgs/{other}/executions/n2-{unique}")
    assert (foreign.json()["key_id"], foreign.json()["key_name"]) == (key, None)
    # A deleted key keeps its name on the executions that used it.
    await stack.announce_key(key, org, "anthropic", status="deleted")
    await stack.wait_known(key, status="deleted")
    assert (await stack.http.get(f"{url}/n1-{unique}")).json()["key_name"] == f"name-{key}"


async def test_queued_then_result_and_result_then_queued(stack: Stack, unique: str) -> None:
    org = f"org-{unique}"
    topics = stack.settings.topics
    first, second = f"q1-{unique}", f"q2-{unique}"
    url = f"/internal/v1/orgs/{org}/executions/"
    await stack.kafka.send(topics.execution_requested, first, requested_event(first, org))
    r = await eventually(lambda: stack.http.get(url + first), lambda r: r.status_code == 200)
    assert r.json()["status"] == "queued"
    assert r.json()["provider"] == "anthropic"
    await stack.kafka.send(topics.execution_result, first, result_event(first, org))
    r = await eventually(
        lambda: stack.http.get(url + first), lambda r: r.json()["status"] != "queued"
    )
    assert r.json()["output"]["text"] == "Hi."
    assert r.json()["usage"]["input_tokens"] == 10

    await stack.kafka.send(topics.execution_result, second, result_event(second, org))
    await eventually(lambda: stack.http.get(url + second), lambda r: r.status_code == 200)
    await stack.kafka.send(topics.execution_requested, second, requested_event(second, org))
    await stack.kafka.send(topics.execution_requested, "bad", b"garbage")
    marker = f"q3-{unique}"
    await stack.kafka.send(topics.execution_requested, marker, requested_event(marker, org))
    await eventually(lambda: stack.http.get(url + marker), lambda r: r.status_code == 200)
    assert (await stack.http.get(url + second)).json()["status"] == "succeeded"
    assert (await stack.http.get(f"/internal/v1/orgs/other/executions/{second}")).status_code == 404


async def test_workspace_limit_exact_under_a_12_way_race(stack: Stack, unique: str) -> None:
    org = f"org-{unique}"
    results = await asyncio.gather(
        *(
            stack.http.post(f"/internal/v1/orgs/{org}/workspaces", json={"name": f"w{i}"})
            for i in range(12)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 3 + [409] * 9
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"plan_limit_reached"}
    listed = (await stack.http.get(f"/internal/v1/orgs/{org}/workspaces")).json()["items"]
    assert len(listed) == 3
    plan = (await stack.http.get(f"/internal/v1/orgs/{org}/plan")).json()
    assert plan["usage"]["workspaces"] == 3


async def test_plan_change_publishes_to_the_plans_topic(stack: Stack, unique: str) -> None:
    org = f"org-{unique}"
    r = await stack.http.get(f"/internal/v1/orgs/{org}/plan")
    assert r.json()["plan"] == "starter"
    r = await stack.http.put(f"/internal/v1/orgs/{org}/plan", json={"plan": "team"})
    assert r.status_code == 200
    assert r.json()["limits"] == {"provider_keys": 10, "workspaces": 25}
    plans = await eventually(
        lambda: stack.kafka.read_all(stack.settings.topics.plans),
        lambda rows: any(k == org and v["plan"] == "team" for k, v in rows),
    )
    mine = [v["plan"] for k, v in plans if k == org]
    assert mine[0] == "starter"
    assert mine[-1] == "team"
    assert [v for k, v in plans if k == org][-1]["limits"] == {
        "provider_keys": 10,
        "workspaces": 25,
    }


async def test_create_and_delete_publish_assignments(stack: Stack, unique: str) -> None:
    org = f"org-{unique}"
    ws = await stack.new_workspace(org, "Ephemeral")
    await eventually(
        lambda: stack.kafka.latest(stack.settings.topics.assignments),
        lambda t: t.get(ws["id"], {}).get("key_ids") == [],
    )
    assert (
        await stack.http.delete(f"/internal/v1/orgs/{org}/workspaces/{ws['id']}")
    ).status_code == 204
    latest = await eventually(
        lambda: stack.kafka.latest(stack.settings.topics.assignments),
        lambda t: t.get(ws["id"], {}).get("deleted") is True,
    )
    assert latest[ws["id"]]["org_id"] == org


async def test_cross_org_workspace_is_404(stack: Stack, unique: str) -> None:
    ws = await stack.new_workspace(f"org-{unique}", "Mine")
    for method in ("GET", "PATCH", "DELETE"):
        r = await stack.http.request(
            method,
            f"/internal/v1/orgs/intruder-{unique}/workspaces/{ws['id']}",
            json={"name": "stolen"} if method == "PATCH" else None,
        )
        assert r.status_code == 404, method
    r = await stack.http.get(f"/internal/v1/orgs/intruder-{unique}/workspaces/{ws['id']}/models")
    assert r.status_code == 404


async def test_read_model_rebuilt_after_restart_equals_before(stack: Stack, unique: str) -> None:
    org = f"org-{unique}"
    await stack.announce_key(f"kr-{unique}", org, "google")
    await stack.kafka.send(
        stack.settings.topics.keys,
        f"kx-{unique}",
        {**key_event(f"kx-{unique}", org, "openai").model_dump(mode="json"), "future": 1},
    )
    await stack.wait_known(f"kr-{unique}")
    await stack.wait_known(f"kx-{unique}")  # unknown field ignored
    before = stack.app.state.keys.snapshot()
    fresh = create_app(stack.settings)
    async with serve(fresh) as url, httpx.AsyncClient(base_url=url) as http:
        await eventually(lambda: http.get("/readyz"), lambda r: r.status_code == 200, timeout=60)
        after = fresh.state.keys.snapshot()
    # Keys confirmed over HTTP (not on the topic) exist only in the first instance.
    topic_only = {k: v for k, v in before.items() if k not in stack.vault_keys}
    assert after == topic_only
    assert len(after) >= 2


async def test_workspace_budget_is_validated_stored_published_and_spent_comes_from_the_ledger(
    stack: Stack, unique: str
) -> None:
    org = f"org-{unique}"
    ws = await stack.new_workspace(org, "Budgeted")
    base = f"/internal/v1/orgs/{org}/workspaces/{ws['id']}"
    for bad in (-5, 0, 10_000_001):
        r = await stack.http.patch(base, json={"budget_usd_monthly": bad})
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
        assert "budget_usd_monthly" in r.json()["detail"]
    r = await stack.http.patch(base, json={"budget_usd_monthly": 250})
    assert r.status_code == 200, r.text
    assert r.json()["budget_usd_monthly"] == 250
    latest = await eventually(
        lambda: stack.kafka.latest(stack.settings.topics.assignments),
        lambda t: t.get(ws["id"], {}).get("budget_usd_monthly") == 250,
    )
    assert latest[ws["id"]]["name"] == "Budgeted"
    r = await stack.http.patch(base, json={"name": "Renamed"})
    assert r.json()["budget_usd_monthly"] == 250  # untouched when not sent
    for i in range(3):
        event = result_event(f"spend-{unique}-{i}", org, workspace_id=ws["id"], cost=0.25)
        await stack.kafka.send(stack.settings.topics.execution_result, f"spend-{i}", event)
    await eventually(
        lambda: stack.http.get(base), lambda r: abs(r.json()["spent_usd_month"] - 0.75) < 1e-9
    )
    r = await stack.http.patch(base, json={"budget_usd_monthly": None})
    assert r.json()["budget_usd_monthly"] is None
