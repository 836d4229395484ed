"""Every journey of the seed, through the gateway and Kafka as clients would drive them."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from shared.catalog import CATALOG
from tests.support.e2e import (
    E2E,
    ENV_CANARIES,
    add_key,
    add_workspace,
    assign,
    sha256,
    wait_for,
)
from tests.support.kafka import kafka_options

pytestmark = pytest.mark.e2e
ANTHROPIC_MODELS = [m.id for m in CATALOG[0].models]
OPENAI_MODELS = [m.id for m in CATALOG[1].models]


async def run(e2e: E2E, org: str, workspace_id: str, model: str, prompt: str | None = None) -> str:
    """Publish an ExecutionRequested as raw JSON, as any workflow engine would."""
    execution_id = f"exec-{uuid.uuid4().hex[:16]}"
    await e2e.publish_request(
        execution_id=execution_id,
        org_id=org,
        workspace_id=workspace_id,
        workflow_id="wf-e2e",
        node_id="node-1",
        model=model,
        input={
            "system": "You are terse.",
            "messages": [{"role": "user", "content": prompt or f"Hello from {execution_id}"}],
            "max_tokens": 64,
            "temperature": 0.2,
        },
    )
    return execution_id


async def finished(
    client: httpx.AsyncClient, execution_id: str, timeout: float = 60
) -> dict[str, Any]:
    async def poll() -> dict[str, Any] | None:
        response = await client.get(f"/executions/{execution_id}")
        if response.status_code == 200 and response.json()["status"] != "queued":
            body: dict[str, Any] = response.json()
            return body
        return None

    return await wait_for(poll, timeout=timeout, interval=0.2)


def key_hashes_seen(records: list[dict[str, Any]]) -> set[str]:
    return {r["key_sha256"] for r in records}


async def test_owner_adds_key_and_sees_only_its_masked_preview(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    _org, client = owner
    secret = e2e.canary("anthropic")
    key = await add_key(client, "anthropic", "Production", secret)
    assert key["preview"] == f"sk-ant-…{secret[-4:]}"
    assert key["provider"] == "anthropic"
    assert set(key) == {
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
    listed = (await client.get("/ai-providers")).json()["items"]
    assert [k["preview"] for k in listed] == [key["preview"]]
    for body in e2e.seen_bodies:
        assert secret.encode() not in body

    bad = await client.post(
        "/ai-providers", json={"provider": "anthropic", "name": "x", "api_key": "short"}
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["code"] == "validation_error"
    assert "api_key" in bad.json()["detail"]
    unknown = await client.post(
        "/ai-providers", json={"provider": "mistral", "name": "x", "api_key": "a" * 30}
    )
    assert unknown.status_code == 422


@pytest.mark.parametrize("role", ["MEMBER", "ADMIN"])
async def test_non_owner_cannot_manage_keys(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient], role: str
) -> None:
    org, client = owner
    key = await add_key(client, "openai", "Shared", e2e.canary("openai"))
    async with e2e.client(org, role) as other:
        assert (await other.get("/ai-providers")).status_code == 403
        created = await other.post(
            "/ai-providers",
            json={"provider": "openai", "name": "Mine", "api_key": e2e.canary("openai")},
        )
        assert created.status_code == 403
        assert created.json()["code"] == "forbidden"
        assert (await other.delete(f"/ai-providers/{key['id']}")).status_code == 403
        assert (await other.get("/plan")).status_code == 403
        assert (await other.get("/workspaces")).status_code == 200  # members may read workspaces
    assert len((await client.get("/ai-providers")).json()["items"]) == 1


async def test_plan_key_limit_is_reached_with_a_clear_error_and_shown(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    _org, client = owner
    keys = [await add_key(client, "openai", f"key-{i}", e2e.canary("openai")) for i in range(3)]
    refused = await client.post(
        "/ai-providers",
        json={"provider": "openai", "name": "key-4", "api_key": e2e.canary("openai")},
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "plan_limit_reached"
    assert "3" in refused.json()["detail"]
    plan = (await client.get("/plan")).json()
    assert plan["plan"] == "starter"
    assert plan["limits"] == {"provider_keys": 3, "workspaces": 3}
    assert plan["usage"]["provider_keys"] == 3
    assert (await client.delete(f"/ai-providers/{keys[0]['id']}")).status_code == 204
    await add_key(client, "openai", "key-4", e2e.canary("openai"))
    assert (await client.get("/plan")).json()["usage"]["provider_keys"] == 3


async def test_model_list_follows_assignments(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    anthropic = await add_key(client, "anthropic", "Claude", e2e.canary("anthropic"))
    openai = await add_key(client, "openai", "GPT", e2e.canary("openai"))
    workspace = await add_workspace(client, "Marketing")

    async def models() -> list[str]:
        response = await client.get(f"/workspaces/{workspace['id']}/models")
        assert response.status_code == 200
        return [m["id"] for m in response.json()["items"]]

    assert await models() == []
    await assign(client, workspace["id"], [anthropic["id"]])
    assert await models() == ANTHROPIC_MODELS
    await assign(client, workspace["id"], [openai["id"], anthropic["id"]])
    assert await models() == ANTHROPIC_MODELS + OPENAI_MODELS  # catalog order, not assignment order
    async with e2e.client(org, "MEMBER") as member:
        listed = (await member.get(f"/workspaces/{workspace['id']}/models")).json()["items"]
        assert listed[0] == {
            "id": "claude-opus-4-6",
            "provider": "anthropic",
            "best_for": "Most capable, complex multi-step reasoning, 1M context",
        }
    refused = await client.patch(
        f"/workspaces/{workspace['id']}", json={"ai_provider_ids": ["key-nope"]}
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "unknown_ai_provider"
    assert "key-nope" in refused.json()["detail"]


async def test_agent_nodes_run_with_the_workspace_key_of_each_provider(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    async with e2e.client(org, "MEMBER", platform_admin=True) as admin:
        assert (
            await admin.put(f"/admin/orgs/{org}/plan", json={"plan": "team"})
        ).status_code == 200
    secrets_by_provider = {p: e2e.canary(p) for p in ("anthropic", "openai", "google")}
    first_anthropic = e2e.canary("anthropic")
    keys = {p: await add_key(client, p, f"{p}-key", s) for p, s in secrets_by_provider.items()}
    second = await add_key(client, "anthropic", "anthropic-second", first_anthropic)
    workspace = await add_workspace(
        client,
        "Ops",
        [keys["anthropic"]["id"], second["id"], keys["openai"]["id"], keys["google"]["id"]],
    )
    runs = {
        "anthropic": await run(e2e, org, workspace["id"], "claude-sonnet-4-6"),
        "openai": await run(e2e, org, workspace["id"], "gpt-5-mini"),
        "google": await run(e2e, org, workspace["id"], "gemini-2.5-flash"),
    }
    records = await e2e.sim_requests()
    for provider, execution_id in runs.items():
        result = await finished(client, execution_id)
        assert result["status"] == "succeeded", result
        assert result["provider"] == provider
        assert result["key_id"] == keys[provider]["id"]  # the first key of that provider, in order
        assert result["output"]["text"]
        assert result["usage"]["input_tokens"] > 0
        assert result["usage"]["cost_usd"] is not None
        assert result["usage"]["cost_usd"] > 0
        assert result["error"] is None
    records = await e2e.sim_requests()
    used = key_hashes_seen(records)
    for provider, secret in secrets_by_provider.items():
        assert sha256(secret) in used, provider
    assert sha256(first_anthropic) not in used
    last_used = {
        k["id"]: k["last_used_at"] for k in (await client.get("/ai-providers")).json()["items"]
    }
    assert last_used[keys["openai"]["id"]] is not None
    audit = (await client.get("/audit", params={"key_id": keys["google"]["id"]})).json()["items"]
    assert any(a["action"] == "resolved" and a["execution_id"] == runs["google"] for a in audit)


async def test_workspace_without_a_key_fails_clearly_and_never_uses_the_environment(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    anthropic = await add_key(client, "anthropic", "Claude only", e2e.canary("anthropic"))
    workspace = await add_workspace(client, "No Gemini", [anthropic["id"]])
    execution_id = await run(e2e, org, workspace["id"], "gemini-2.5-pro")
    result = await finished(client, execution_id)
    assert result["status"] == "failed"
    assert result["output"] is None
    assert result["error"]["code"] == "provider_not_configured"
    assert workspace["id"] in result["error"]["message"]
    assert (
        "google" in result["error"]["message"].lower()
        or "gemini" in result["error"]["message"].lower()
    )
    unknown = await finished(client, await run(e2e, org, workspace["id"], "gpt-4-turbo"))
    assert unknown["error"]["code"] == "model_unknown"
    seen = key_hashes_seen(await e2e.sim_requests())
    for canary in ENV_CANARIES.values():
        assert sha256(canary) not in seen


async def test_dev_and_prod_keys_in_two_workspaces_show_cost_per_key(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    dev = await add_key(client, "openai", "OpenAI dev", e2e.canary("openai"))
    prod = await add_key(client, "openai", "OpenAI prod", e2e.canary("openai"))
    ws_dev = await add_workspace(client, "Dev", [dev["id"]])
    ws_prod = await add_workspace(client, "Prod", [prod["id"]])
    runs = [await run(e2e, org, ws_dev["id"], "gpt-5") for _ in range(2)]
    runs += [await run(e2e, org, ws_prod["id"], "gpt-5") for _ in range(3)]
    results = [await finished(client, r) for r in runs]
    assert all(r["status"] == "succeeded" for r in results)

    async def by(group: str) -> dict[str, dict[str, Any]]:
        response = await client.get("/usage", params={"group_by": group})
        assert response.status_code == 200, response.text
        return {
            item[f"{group}_id" if group != "model" else "model"]: item
            for item in response.json()["items"]
        }

    per_key = await wait_for(lambda: _when(by("key"), lambda d: len(d) == 2))
    assert per_key[dev["id"]]["executions"] == 2
    assert per_key[prod["id"]]["executions"] == 3
    expected_prod_cost = sum(r["usage"]["cost_usd"] for r in results[2:])
    assert per_key[prod["id"]]["cost_usd"] == pytest.approx(expected_prod_cost)
    assert per_key[dev["id"]]["cost_usd"] > 0
    per_workspace = await by("workspace")
    assert per_workspace[ws_dev["id"]]["executions"] == 2
    assert (await by("model"))["gpt-5"]["executions"] == 5
    plan = (await client.get("/plan")).json()
    assert plan["usage"]["executions_this_month"] == 5
    assert plan["usage"]["cost_usd_this_month"] == pytest.approx(
        sum(r["usage"]["cost_usd"] for r in results)
    )


async def _when(coro: Any, check: Any) -> Any:
    value = await coro
    return value if check(value) else None


async def test_rotation_under_a_continuous_stream_has_zero_failures(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    old_secret, new_secret = e2e.canary("anthropic"), e2e.canary("anthropic")
    old = await add_key(client, "anthropic", "old", old_secret)
    workspace = await add_workspace(client, "Rotating", [old["id"]])
    executions: list[str] = []
    stop = asyncio.Event()

    async def stream() -> None:
        while not stop.is_set():
            executions.append(await run(e2e, org, workspace["id"], "claude-haiku-4-5"))
            await asyncio.sleep(0.05)

    producer = asyncio.create_task(stream())
    await asyncio.sleep(1.5)
    new = await add_key(client, "anthropic", "new", new_secret)
    await assign(client, workspace["id"], [new["id"], old["id"]])
    await asyncio.sleep(1.0)
    await assign(client, workspace["id"], [new["id"]])
    await asyncio.sleep(0.5)
    assert (await client.delete(f"/ai-providers/{old['id']}")).status_code == 204
    await asyncio.sleep(1.5)
    stop.set()
    await producer
    results = await asyncio.gather(*(finished(client, e, timeout=90) for e in executions))
    failed = [r for r in results if r["status"] != "succeeded"]
    assert len(executions) >= 40
    assert failed == []
    assert results[0]["key_id"] == old["id"]
    assert results[-1]["key_id"] == new["id"]


async def test_unassigning_or_deleting_a_key_stops_its_use_within_a_second(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    unassigned_secret, deleted_secret = e2e.canary("openai"), e2e.canary("google")
    unassigned = await add_key(client, "openai", "to unassign", unassigned_secret)
    deleted = await add_key(client, "google", "to delete", deleted_secret)
    workspace = await add_workspace(client, "Revocation", [unassigned["id"], deleted["id"]])
    assert (await finished(client, await run(e2e, org, workspace["id"], "gpt-5-mini")))[
        "status"
    ] == "succeeded"

    await assign(client, workspace["id"], [deleted["id"]])
    assert (await client.delete(f"/ai-providers/{deleted['id']}")).status_code == 204
    revoked_at = time.time()
    await asyncio.sleep(1.0)
    after = [
        await run(e2e, org, workspace["id"], "gpt-5-mini"),
        await run(e2e, org, workspace["id"], "gemini-2.0-flash"),
    ]
    for execution_id in after:
        result = await finished(client, execution_id)
        assert result["status"] == "failed"
        assert result["error"]["code"] == "provider_not_configured"
    late = [
        r
        for r in await e2e.sim_requests()
        if r["key_sha256"] in {sha256(unassigned_secret), sha256(deleted_secret)}
        and r["received_at"] > revoked_at + 1.0
    ]
    assert late == []
    workspace_now = (await client.get(f"/workspaces/{workspace['id']}")).json()
    assert workspace_now["ai_provider_ids"] == []


async def test_test_run_from_the_gateway_waits_for_its_result(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    key = await add_key(client, "google", "Gemini", e2e.canary("google"))
    workspace = await add_workspace(client, "Playground", [key["id"]])
    body = {"model": "gemini-2.5-flash", "input": {"messages": [{"role": "user", "content": "Hi"}]}}
    async with e2e.client(org, "MEMBER") as member:
        waited = await member.post(
            f"/workspaces/{workspace['id']}/executions", json={**body, "wait_seconds": 30}
        )
        assert waited.status_code == 200, waited.text
        assert waited.json()["status"] == "succeeded"
        assert waited.json()["key_id"] == key["id"]
        queued = await member.post(f"/workspaces/{workspace['id']}/executions", json=body)
        assert queued.status_code == 202
        assert queued.json()["status"] == "queued"
        assert (await finished(member, queued.json()["execution_id"]))["status"] == "succeeded"
        too_long = await member.post(
            f"/workspaces/{workspace['id']}/executions", json={**body, "wait_seconds": 61}
        )
        assert too_long.status_code == 422


async def test_unparseable_request_goes_to_the_dead_letter_topic_and_work_continues(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    key = await add_key(client, "openai", "DLQ", e2e.canary("openai"))
    workspace = await add_workspace(client, "DLQ", [key["id"]])
    garbage = b'{"execution_id": "broken", not json'
    await e2e.publish_raw(garbage, key=b"broken")
    execution_id = await run(e2e, org, workspace["id"], "o4-mini")
    assert (await finished(client, execution_id))["status"] == "succeeded"
    consumer = AIOKafkaConsumer(
        e2e.topics["dlq"],
        **kafka_options(e2e.bootstrap),
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:

        async def dead() -> Any:
            batch = await consumer.getmany(timeout_ms=500)
            return next((r for rs in batch.values() for r in rs if r.value == garbage), None)

        record = await wait_for(dead, timeout=30)
    finally:
        await consumer.stop()
    assert record.key == b"broken"
    headers = dict(record.headers)
    assert headers.get("x-error")


async def test_names_are_unique_within_an_org_on_create_and_rename(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    _org, client = owner
    first = await add_key(client, "openai", "Primary", e2e.canary("openai"))
    second = await add_key(client, "openai", "Secondary", e2e.canary("openai"))
    clash = await client.patch(f"/ai-providers/{second['id']}", json={"name": "Primary"})
    assert clash.status_code == 409
    assert clash.json()["code"] == "name_taken"
    renamed = await client.patch(f"/ai-providers/{first['id']}", json={"name": "Renamed"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed"
    assert renamed.json()["preview"] == first["preview"]
    duplicate = await client.post(
        "/ai-providers",
        json={"provider": "openai", "name": "Secondary", "api_key": e2e.canary("openai")},
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "name_taken"

    ws_a = await add_workspace(client, "Alpha")
    ws_b = await add_workspace(client, "Beta")
    ws_clash = await client.patch(f"/workspaces/{ws_b['id']}", json={"name": "Alpha"})
    assert ws_clash.status_code == 409
    assert ws_clash.json()["code"] == "name_taken"
    assert (await client.get(f"/workspaces/{ws_a['id']}")).json()["name"] == "Alpha"
