"""Budgets and expiry through the runner: real Kafka, FerretDB, keyvault and the simulator."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.contracts import ErrorCode
from tests.agent_runner.integration.conftest import Stack

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-6"


async def make_key(stack: Stack, org: str, name: str, **extra: object) -> str:
    body = {
        "provider": "anthropic",
        "name": name,
        "api_key": f"sk-ant-api03-sim{uuid.uuid4().hex}",
        "actor": "user-1",
        **extra,
    }
    response = await stack.gateway.post(f"/internal/v1/orgs/{org}/keys", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_two_hundred_in_flight_at_the_edge_of_a_budget(stack: Stack) -> None:
    """The worst overshoot with 200 executions in flight against one key's budget is 0."""
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    budget = 0.02  # a few dozen of these calls' estimates, far fewer than 200
    key = await make_key(stack, org, "capped", budget_usd_monthly=budget)
    await stack.assign(org, ws, [key])
    execs = [f"exec-{uuid.uuid4().hex[:12]}" for _ in range(200)]
    async with stack.runner(runner_concurrency=256):
        await asyncio.gather(*(stack.request(e, org, ws, MODEL) for e in execs))
        results = await stack.wait_results(set(execs), timeout=240)
    ok = [r for r in results.values() if r.status == "succeeded"]
    refused = [r for r in results.values() if r.status == "failed"]
    assert ok
    assert refused
    assert {r.error.code for r in refused if r.error} == {ErrorCode.BUDGET_EXCEEDED}
    message = refused[0].error.message if refused[0].error else ""
    assert "'capped'" in message
    assert "$0.0200" in message
    spent = sum(r.usage.cost_usd or 0 for r in ok if r.usage)
    overshoot = max(0.0, spent - budget)
    print(
        f"\nedge of budget: {len(ok)} ran, {len(refused)} refused, spent ${spent:.6f} "
        f"of ${budget:.2f}, overshoot ${overshoot:.6f}"
    )
    assert spent <= budget + 1e-9
    # keyvault's month counter (fed by the same results) agrees with the results' costs.

    async def agrees() -> bool:
        body = (await stack.gateway.get(f"/internal/v1/orgs/{org}/keys/{key}")).json()
        return bool(abs(body["spent_usd_month"] - spent) < 1e-6)

    async with asyncio.timeout(15):
        while not await agrees():
            await asyncio.sleep(0.1)


async def test_an_expired_key_fails_over_or_fails_naming_the_expiry(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    expiring = await make_key(stack, org, "old", expires_at=soon)
    await stack.assign(org, ws, [expiring])
    await asyncio.sleep(2.2)
    (first,) = [f"exec-{uuid.uuid4().hex[:12]}"]
    async with stack.runner():
        await stack.request(first, org, ws, MODEL)
        result = (await stack.wait_results({first}))[first]
        assert result.status == "failed"
        assert result.error is not None
        assert result.error.code == ErrorCode.PROVIDER_AUTH_FAILED
        assert "'old' expired" in result.error.message
        fresh = await make_key(stack, org, "new")
        await stack.assign(org, ws, [expiring, fresh])
        second = f"exec-{uuid.uuid4().hex[:12]}"
        await stack.request(second, org, ws, MODEL)
        again = (await stack.wait_results({second}))[second]
    assert again.status == "succeeded", again.error
    assert again.key_id == fresh
