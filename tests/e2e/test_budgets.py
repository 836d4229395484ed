"""Budgets end to end (issue 16): the edge-of-budget race of 200 executions in flight
(requested on Kafka as a workflow engine does) through the runner and keyvault, the alerts,
and the ledger and keyvault agreeing on the month's spend."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.test_journeys import finished, run
from tests.support.e2e import E2E, add_key, add_workspace, wait_for

pytestmark = pytest.mark.e2e

MODEL = "claude-haiku-4-5"


async def _run(e2e: E2E, api: httpx.AsyncClient, org: str, workspace_id: str) -> dict[str, Any]:
    """One Agent node execution as a workflow engine requests it (Kafka), to its result.

    The engine path, not the gateway's test runs: those are rate-limited per org (issue 16),
    and 200 executions in flight at once is what a workflow fan-out does."""
    execution_id = await run(e2e, org, workspace_id, MODEL, prompt=f"Hi {uuid.uuid4().hex}")
    return await finished(api, execution_id, timeout=120)


async def test_two_hundred_runs_at_the_edge_of_a_workspace_budget(e2e: E2E, unique: str) -> None:
    org = f"org-budget-{unique}"
    async with e2e.client(org, "OWNER") as api:
        key = await add_key(api, "anthropic", "Budget Claude", e2e.canary("anthropic"))
        workspace = await add_workspace(api, "Capped", [key["id"]])
        budget = 0.01
        patched = await api.patch(
            f"/workspaces/{workspace['id']}", json={"budget_usd_monthly": budget}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["budget_usd_monthly"] == budget
        bad = await api.patch(f"/workspaces/{workspace['id']}", json={"budget_usd_monthly": -1})
        assert bad.status_code == 422
        await asyncio.sleep(1.0)  # keyvault's read model of the workspace follows

        results = await asyncio.gather(*(_run(e2e, api, org, workspace["id"]) for _ in range(200)))
        ok = [r for r in results if r["status"] == "succeeded"]
        refused = [r for r in results if r["status"] == "failed"]
        assert ok
        assert refused
        assert {r["error"]["code"] for r in refused} == {"budget_exceeded"}
        assert "workspace 'Capped'" in refused[0]["error"]["message"]
        spent = sum(r["usage"]["cost_usd"] for r in ok)
        print(
            f"\ne2e edge of budget: {len(ok)} ran, {len(refused)} refused, spent ${spent:.6f} "
            f"of ${budget:.2f}, overshoot ${max(0.0, spent - budget):.6f}"
        )
        assert spent <= budget + 1e-9

        # The ledger (workspace) and keyvault's counter (key) agree on the month's spend.
        async def agreed() -> bool:
            ws = (await api.get(f"/workspaces/{workspace['id']}")).json()
            keys = (await api.get("/ai-providers")).json()["items"]
            return bool(
                abs(ws["spent_usd_month"] - spent) < 1e-6
                and abs(keys[0]["spent_usd_month"] - spent) < 1e-6
            )

        await wait_for(agreed, timeout=30)

        async def refusal_alert() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = (await api.get("/alerts")).json()["items"]
            found = [a for a in items if a["threshold_pct"] == 100]
            return found or None

        alerts = await wait_for(refusal_alert, timeout=15)
        assert len(alerts) == 1  # once, though 100+ runs were refused concurrently
        assert alerts[0]["scope"] == "workspace"
        assert alerts[0]["scope_id"] == workspace["id"]
