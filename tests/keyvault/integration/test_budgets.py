"""Budgets, expiry and alerts in keyvault against the real Kafka and FerretDB (issue 16, 1–3).

The budget check happens where keyvault releases a key: each granted resolution holds the
runner's estimate on the month's counter of the key's and the workspace's budget (one atomic
conditional update per counter), and the execution's result settles it.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from keyvault.domain.budgets import next_reset
from keyvault.settings import KeyvaultSettings
from shared.contracts import (
    REPUBLISHED_HEADER,
    ExecutionResult,
    ExecutionUsage,
    WorkspaceAssignmentsChanged,
)
from shared.crypto import new_recipient
from tests.keyvault.integration.conftest import Running, start

pytestmark = pytest.mark.integration


def a_key() -> str:
    return "sk-ant-api03-" + secrets.token_urlsafe(30)


async def until(predicate: Callable[[], Awaitable[object]], seconds: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    while not await predicate():
        assert loop.time() - began < seconds, "condition not reached in time"
        await asyncio.sleep(0.05)


async def assign(kv: Running, ws: str, org: str, keys: list[str], **extra: Any) -> None:
    event = WorkspaceAssignmentsChanged(workspace_id=ws, org_id=org, key_ids=keys, **extra)
    await kv.producer.send_and_wait(
        kv.settings.topics.assignments, event.model_dump_json().encode(), key=ws.encode()
    )


async def resolve_batch(
    kv: Running, org: str, ws: str, execs: list[str], *, estimate: float, skip: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    _, public = new_recipient()
    items = [
        {
            "org_id": org,
            "workspace_id": ws,
            "provider": "anthropic",
            "execution_id": e,
            "public_key": base64.b64encode(public).decode(),
            "skip_key_ids": list(skip),
            "estimate_usd": estimate,
        }
        for e in execs
    ]
    response = await kv.runner.post("/internal/v1/resolve-batch", json={"items": items})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def publish_result(
    kv: Running, org: str, ws: str, exec_id: str, key: str, cost: float, *, again: bool = False
) -> None:
    """A runner's result; `again`: published again, as the runner marks a recorded result it
    publishes for a redelivered request (shared.contracts.REPUBLISHED_HEADER)."""
    result = ExecutionResult(
        execution_id=exec_id,
        org_id=org,
        workspace_id=ws,
        status="succeeded",
        model="claude-sonnet-4-6",
        provider="anthropic",
        key_id=key,
        usage=ExecutionUsage(input_tokens=10, output_tokens=10, cost_usd=cost),
        attempts=1,
        duration_ms=5,
    )
    await kv.producer.send_and_wait(
        kv.settings.topics.execution_result,
        result.model_dump_json().encode(),
        key=exec_id.encode(),
        headers=[(REPUBLISHED_HEADER, b"1")] if again else None,
    )


async def ready_key(kv: Running, org: str, ws: str, keys: list[str], **extra: Any) -> None:
    await assign(kv, ws, org, keys, **extra)

    async def assigned() -> bool:
        out = await resolve_batch(kv, org, ws, [f"probe-{secrets.token_hex(4)}"], estimate=0)
        return "key_id" in out[0] and out[0]["key_id"] is not None

    await until(assigned)


async def test_two_hundred_at_the_edge_of_a_key_budget_never_pass_it(
    kv: Running, unique: str
) -> None:
    org, ws = f"org-{unique}", f"ws-{unique}"
    created = await kv.create(org, "anthropic", "capped", a_key(), budget_usd_monthly=1.0)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["budget_usd_monthly"] == 1.0
    await ready_key(kv, org, ws, [key["id"]])
    execs = [f"e-{i}" for i in range(200)]
    # 200 executions ask at once (8 concurrent batches), each estimated at $0.10.
    answers = await asyncio.gather(
        *(resolve_batch(kv, org, ws, execs[i : i + 25], estimate=0.1) for i in range(0, 200, 25))
    )
    items = [i for batch in answers for i in batch]
    granted = [e for e, i in zip(execs, items, strict=True) if i.get("key_id")]
    refused = [i["error"] for i in items if not i.get("key_id")]
    assert len(granted) == 10  # $1.00 / $0.10: never one more
    assert {r["code"] for r in refused} == {"budget_exceeded"}
    reset = next_reset(datetime.now(UTC)).strftime("%Y-%m-%d")
    assert "'capped'" in refused[0]["detail"]
    assert "$1.00" in refused[0]["detail"]
    assert reset in refused[0]["detail"]
    # The results settle the holds to the actual cost ($0.06 each): $0.60 spent, $0.40 free.
    for e in granted:
        await publish_result(kv, org, ws, e, key["id"], 0.06)

    async def spent_settled() -> bool:
        body = (await kv.gateway.get(f"/internal/v1/orgs/{org}/keys/{key['id']}")).json()
        return bool(abs(body["spent_usd_month"] - 0.6) < 1e-6)

    await until(spent_settled)

    async def holds_released() -> bool:  # exactly $0.40 of room once every hold is settled
        out = await resolve_batch(kv, org, ws, [f"m-{secrets.token_hex(3)}"], estimate=0.4)
        return bool(out[0].get("key_id"))

    await until(holds_released)
    full = await resolve_batch(kv, org, ws, ["one-cent-more"], estimate=0.01)
    assert full[0]["error"]["code"] == "budget_exceeded"
    # A redelivered result changes nothing.
    for e in granted[:3]:
        await publish_result(kv, org, ws, e, key["id"], 0.06, again=True)
    alerts: list[dict[str, Any]] = []

    async def alert_at_50() -> bool:
        nonlocal alerts
        alerts = (await kv.gateway.get(f"/internal/v1/orgs/{org}/alerts")).json()["items"]
        return any(a["threshold_pct"] == 50 for a in alerts)

    await until(alert_at_50)
    await asyncio.sleep(0.5)
    body = (await kv.gateway.get(f"/internal/v1/orgs/{org}/keys/{key['id']}")).json()
    assert abs(body["spent_usd_month"] - 0.6) < 1e-6
    alerts = (await kv.gateway.get(f"/internal/v1/orgs/{org}/alerts")).json()["items"]
    # 50 % once (settled spend), 100 % once (the first refusal); 80 % not reached.
    assert sorted(a["threshold_pct"] for a in alerts) == [50, 100]
    assert {(a["kind"], a["scope"], a["scope_id"]) for a in alerts} == {
        ("budget", "key", key["id"])
    }
    assert "runs are refused (budget_exceeded)" in alerts[-1]["message"]


async def test_a_key_without_headroom_fails_over_and_a_workspace_budget_stops_all(
    kv: Running, unique: str
) -> None:
    org, ws = f"org-{unique}", f"ws-{unique}"
    small = (await kv.create(org, "anthropic", "small", a_key(), budget_usd_monthly=0.1)).json()
    free = (await kv.create(org, "anthropic", "free", a_key())).json()
    await ready_key(kv, org, ws, [small["id"], free["id"]])
    first = await resolve_batch(kv, org, ws, ["x1"], estimate=0.1)
    assert first[0]["key_id"] == small["id"]
    second = await resolve_batch(kv, org, ws, ["x2"], estimate=0.1)
    assert second[0]["key_id"] == free["id"]  # failover to the next key with room
    # A workspace budget of $0.25: the next hold of $0.2 does not fit ($0.1 + $0.2 > $0.25).
    await assign(kv, ws, org, [small["id"], free["id"]], budget_usd_monthly=0.25, name="Team A")

    async def workspace_refuses() -> bool:
        out = await resolve_batch(kv, org, ws, [f"w-{secrets.token_hex(3)}"], estimate=0.2)
        error = out[0].get("error") or {}
        return error.get("code") == "budget_exceeded" and "workspace 'Team A'" in error["detail"]

    await until(workspace_refuses)


async def test_budget_and_expiry_validation(kv: Running, unique: str) -> None:
    org = f"org-{unique}"
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for extra, field in (
        ({"budget_usd_monthly": -1}, "budget_usd_monthly"),
        ({"budget_usd_monthly": 0}, "budget_usd_monthly"),
        ({"budget_usd_monthly": 10_000_001}, "budget_usd_monthly"),
        ({"expires_at": past}, "expires_at"),
    ):
        response = await kv.create(org, "anthropic", f"k-{field}", a_key(), **extra)
        assert response.status_code == 422, response.text
        assert field in response.json()["detail"]
    key = (await kv.create(org, "anthropic", "ok", a_key())).json()
    patch = await kv.gateway.patch(
        f"/internal/v1/orgs/{org}/keys/{key['id']}", json={"expires_at": past}
    )
    assert patch.status_code == 422
    assert "future" in patch.json()["detail"]
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    patch = await kv.gateway.patch(
        f"/internal/v1/orgs/{org}/keys/{key['id']}",
        json={"budget_usd_monthly": 50, "expires_at": soon},
    )
    assert patch.status_code == 200, patch.text
    assert patch.json()["budget_usd_monthly"] == 50
    cleared = await kv.gateway.patch(
        f"/internal/v1/orgs/{org}/keys/{key['id']}", json={"budget_usd_monthly": None}
    )
    assert cleared.json()["budget_usd_monthly"] is None
    assert cleared.json()["expires_at"] is not None  # untouched when not sent


async def test_an_expired_key_is_never_resolved(kv: Running, unique: str) -> None:
    org, ws = f"org-{unique}", f"ws-{unique}"
    key = (await kv.create(org, "anthropic", "short-lived", a_key())).json()
    await ready_key(kv, org, ws, [key["id"]])
    # The expiry is set once the key resolves, so a slow start cannot outlive it.
    expiring = datetime.now(UTC) + timedelta(seconds=2)
    patched = await kv.gateway.patch(
        f"/internal/v1/orgs/{org}/keys/{key['id']}", json={"expires_at": expiring.isoformat()}
    )
    assert patched.status_code == 200, patched.text
    await asyncio.sleep(max(0.0, (expiring - datetime.now(UTC)).total_seconds()) + 0.2)
    out = await resolve_batch(kv, org, ws, ["after-expiry"], estimate=0)
    assert out[0]["error"]["code"] == "key_expired"
    assert "'short-lived' expired" in out[0]["error"]["detail"]
    other = (await kv.create(org, "anthropic", "fresh", a_key())).json()
    await assign(kv, ws, org, [key["id"], other["id"]])

    async def fails_over() -> bool:
        got = await resolve_batch(kv, org, ws, [f"f-{secrets.token_hex(3)}"], estimate=0)
        return bool(got[0].get("key_id") == other["id"])

    await until(fails_over)


async def test_a_hold_whose_result_never_comes_is_released_and_expiry_is_alerted(
    settings_factory: Callable[..., KeyvaultSettings], producer: Any, unique: str
) -> None:
    settings = settings_factory(keyvault_hold_ttl_s=1.0, keyvault_budget_check_interval_s=0.3)
    async with await start(settings, producer) as kv:
        org, ws = f"org-{unique}", f"ws-{unique}"
        soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        key = (
            await kv.create(org, "anthropic", "k", a_key(), budget_usd_monthly=0.1, expires_at=soon)
        ).json()
        await ready_key(kv, org, ws, [key["id"]])
        assert (await resolve_batch(kv, org, ws, ["h1"], estimate=0.1))[0].get("key_id")
        assert (await resolve_batch(kv, org, ws, ["h2"], estimate=0.1))[0].get("error")

        async def released() -> bool:
            out = await resolve_batch(kv, org, ws, [f"h-{secrets.token_hex(3)}"], estimate=0.1)
            return bool(out[0].get("key_id"))

        await until(released)  # the runner crashed: its hold is released after the TTL

        async def expiry_alerted() -> bool:
            items = (await kv.gateway.get(f"/internal/v1/orgs/{org}/alerts")).json()["items"]
            return (
                any(a["kind"] == "key_expiry" and a["scope_id"] == key["id"] for a in items) is True
            )

        await until(expiry_alerted)
        await asyncio.sleep(0.7)  # more checks ran: still one alert
        items = (await kv.gateway.get(f"/internal/v1/orgs/{org}/alerts")).json()["items"]
        expiry = [a for a in items if a["kind"] == "key_expiry"]
        assert len(expiry) == 1
        assert "expires in 3 days" in expiry[0]["message"]
