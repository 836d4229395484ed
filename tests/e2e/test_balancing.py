"""Issue 16 items 4–5 on the real stack (simulator for the providers): round robin across
keys measured over 1,000 executions from the ledger, failover under round robin, and
idempotent, rate-limited, capped test runs through the gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support.e2e import E2E, add_key, add_workspace, sha256, wait_for

pytestmark = pytest.mark.e2e
MODEL = "claude-haiku-4-5"
N = 1000
TOLERANCE = 0.05


async def publish(e2e: E2E, org: str, workspace_id: str) -> str:
    execution_id = f"exec-{uuid.uuid4().hex[:16]}"
    await e2e.publish_request(
        execution_id=execution_id,
        org_id=org,
        workspace_id=workspace_id,
        workflow_id="wf-balance",
        node_id="node-1",
        model=MODEL,
        input={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16},
    )
    return execution_id


async def result(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    async def poll() -> dict[str, Any] | None:
        response = await client.get(f"/executions/{execution_id}")
        if response.status_code == 200 and response.json()["status"] != "queued":
            body: dict[str, Any] = response.json()
            return body
        return None

    return await wait_for(poll, timeout=60, interval=0.2)


async def round_robin_in_force(
    e2e: E2E, org: str, client: httpx.AsyncClient, workspace_id: str
) -> Counter[str]:
    """Runs single executions until keyvault's read model has the new routing (two keys
    seen); returns what those probes used, to be subtracted from the ledger's counts."""
    used: Counter[str] = Counter()
    for _ in range(40):
        done = await result(client, await publish(e2e, org, workspace_id))
        assert done["status"] == "succeeded", done
        used[done["key_id"]] += 1
        if len(used) >= 2:
            return used
    raise AssertionError(f"round robin never took effect: {used}")


async def per_key(client: httpx.AsyncClient, total: int) -> dict[str, int]:
    async def poll() -> dict[str, int] | None:
        response = await client.get("/usage", params={"group_by": "key"})
        assert response.status_code == 200, response.text
        counts = {i["key_id"]: i["executions"] for i in response.json()["items"]}
        return counts if sum(counts.values()) >= total else None

    return await wait_for(poll, timeout=300, interval=1.0)


@pytest.mark.runs_late  # its 1,000 ledger records slow the ledger reads of later tests
async def test_weighted_round_robin_over_1000_executions_is_within_5_percent(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    keys = [await add_key(client, "anthropic", f"K{i}", e2e.canary("anthropic")) for i in range(3)]
    ids = [k["id"] for k in keys]
    workspace = await add_workspace(client, "Balanced", ids)
    weights = {ids[0]: 2, ids[1]: 1, ids[2]: 1}
    patched = await client.patch(
        f"/workspaces/{workspace['id']}",
        json={"routing": {"anthropic": {"strategy": "round_robin", "weights": weights}}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["routing"]["anthropic"]["strategy"] == "round_robin"
    probes = await round_robin_in_force(e2e, org, client, workspace["id"])

    await asyncio.gather(*(publish(e2e, org, workspace["id"]) for _ in range(N)))
    counts = await per_key(client, N + sum(probes.values()))
    measured = {k: counts.get(k, 0) - probes.get(k, 0) for k in ids}
    assert sum(measured.values()) == N
    total_weight = sum(weights.values())
    shares = {k: measured[k] / N for k in ids}
    print(f"round robin over {N} executions, weights 2:1:1 → counts {list(measured.values())}")
    for key_id in ids:
        assert abs(shares[key_id] - weights[key_id] / total_weight) <= TOLERANCE, shares


async def test_round_robin_still_fails_over_past_a_key_that_answers_401(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    good = [await add_key(client, "anthropic", f"Good{i}", e2e.canary("anthropic")) for i in (1, 2)]
    bad = await add_key(client, "anthropic", "Revoked", e2e.canary("anthropic", "fail401"))
    ids = [bad["id"], good[0]["id"], good[1]["id"]]
    workspace = await add_workspace(client, "Failover", ids)
    patched = await client.patch(
        f"/workspaces/{workspace['id']}",
        json={"routing": {"anthropic": {"strategy": "round_robin"}}},
    )
    assert patched.status_code == 200, patched.text
    await round_robin_in_force(e2e, org, client, workspace["id"])
    runs = await asyncio.gather(*(publish(e2e, org, workspace["id"]) for _ in range(30)))
    results = [await result(client, r) for r in runs]
    assert all(r["status"] == "succeeded" for r in results)
    used = Counter(r["key_id"] for r in results)
    assert bad["id"] not in used
    assert set(used) == {good[0]["id"], good[1]["id"]}


async def test_bad_routing_is_refused_clearly(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    _, client = owner
    key = await add_key(client, "anthropic", "Only", e2e.canary("anthropic"))
    other = await add_key(client, "anthropic", "Unassigned", e2e.canary("anthropic"))
    workspace = await add_workspace(client, "Strict", [key["id"]])
    path = f"/workspaces/{workspace['id']}"
    for routing, says in (
        ({"anthropic": {"strategy": "random"}}, "strategy"),
        ({"anthropic": {"strategy": "round_robin", "weights": {key["id"]: 0}}}, "greater than"),
        (
            {"anthropic": {"strategy": "round_robin", "weights": {other["id"]: 2}}},
            "is not one of the anthropic keys assigned to this workspace",
        ),
    ):
        response = await client.patch(path, json={"routing": routing})
        assert response.status_code == 422, response.text
        assert says in response.json()["detail"]
    assert (await client.get(path)).json()["routing"] == {}


async def test_idempotent_test_runs_call_the_provider_once(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    key = await add_key(client, "anthropic", "Claude", e2e.canary("anthropic"))
    workspace = await add_workspace(client, "Retries", [key["id"]])
    marker = uuid.uuid4().hex
    body = {
        "model": MODEL,
        "input": {"messages": [{"role": "user", "content": f"once {marker}"}], "max_tokens": 32},
        "wait_seconds": 30,
    }
    url = f"/workspaces/{workspace['id']}/executions"
    async with e2e.client(org, "MEMBER") as member:
        headers = {"Idempotency-Key": f"idem-{marker}"}
        # Concurrent duplicates (a double click, a retry racing the first try).
        answers = await asyncio.gather(
            *(member.post(url, json=body, headers=headers) for _ in range(5))
        )
        assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
        assert len({a.json()["execution_id"] for a in answers}) == 1
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 4
        later = await member.post(url, json={**body, "wait_seconds": 0}, headers=headers)
        assert later.status_code == 200
        assert later.json() == {**answers[0].json(), "finished_at": later.json()["finished_at"]}
        conflict = await member.post(
            url, json={**body, "model": "claude-sonnet-4-6"}, headers=headers
        )
        assert conflict.status_code == 409
        assert conflict.json()["code"] == "idempotency_conflict"
    prompt = sha256(f"once {marker}")
    seen = [r for r in await e2e.sim_requests() if r.get("prompt_sha256") == prompt]
    assert len(seen) == 1  # one provider call for six requests


@pytest.mark.runs_late  # up to 2 windows of test runs in the shared ledger
async def test_the_max_tokens_cap_and_the_rate_limit_bound_test_runs(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    _, client = owner
    key = await add_key(client, "anthropic", "Claude", e2e.canary("anthropic"))
    workspace = await add_workspace(client, "Bounded", [key["id"]])
    path = f"/workspaces/{workspace['id']}"
    assert (await client.patch(path, json={"max_tokens_cap": 100})).json()["max_tokens_cap"] == 100

    def body(max_tokens: int) -> dict[str, Any]:
        messages = [{"role": "user", "content": "Hi"}]
        return {"model": MODEL, "input": {"messages": messages, "max_tokens": max_tokens}}

    capped = await client.post(f"{path}/executions", json=body(101))
    assert capped.status_code == 422
    assert "cap of 100" in capped.json()["detail"]
    small = body(100)
    codes: list[httpx.Response] = []
    for _ in range(250):  # the default is 120 per fixed minute: 2 windows at most
        codes.append(await client.post(f"{path}/executions", json=small))
        if codes[-1].status_code == 429:
            break
    limited = codes[-1]
    assert limited.status_code == 429, [c.status_code for c in codes]
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # The admitted runs finish before the next test (they are real executions).
    await finished_in_ledger(client, workspace["id"], len(codes) - 1)


async def finished_in_ledger(client: httpx.AsyncClient, workspace_id: str, count: int) -> None:
    async def poll() -> bool:
        response = await client.get("/usage", params={"group_by": "workspace"})
        items = response.json()["items"]
        return any(i["workspace_id"] == workspace_id and i["executions"] >= count for i in items)

    await wait_for(poll, timeout=300, interval=1.0)
