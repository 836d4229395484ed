"""Budgets and expiry in the Settings UI: the key's row and its "Budget & expiry" dialog, the
workspace's budget in "Edit", and the alert banner on Plan & Usage (issue 16)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.browser.support import UI, row, run
from tests.support.e2e import E2E, add_key, add_workspace, wait_for

pytestmark = pytest.mark.e2e


async def test_budgets_expiry_and_the_alert_banner(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    key = await add_key(api, "anthropic", "Capped key", e2e.canary("anthropic"))
    expires = (datetime.now(UTC) + timedelta(days=10, minutes=5)).isoformat()
    patched = await api.patch(
        f"/ai-providers/{key['id']}", json={"budget_usd_monthly": 0.002, "expires_at": expires}
    )
    assert patched.status_code == 200, patched.text
    workspace = await add_workspace(api, "Budgeted", [key["id"]])
    await asyncio.sleep(0.5)
    # Runs until the key's budget refuses one: the 100 % alert is raised once.
    results: list[dict[str, Any]] = []
    for _ in range(10):
        results += await asyncio.gather(
            *(run(api, workspace["id"], "claude-haiku-4-5") for _ in range(4))
        )
        if any(r["status"] == "failed" for r in results):
            break
    refused = [r for r in results if r["status"] == "failed"]
    assert refused
    assert refused[0]["error"]["code"] == "budget_exceeded"

    async def alerted() -> bool:
        return bool((await api.get("/alerts")).json()["items"])

    await wait_for(alerted, timeout=15)

    page = await ui.open(org, path="/settings/plan")
    banner = page.get_by_role("region", name="Budget and key alerts")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text(
        "Provider key 'Capped key' has used its $0.0020 monthly budget"
    )

    await page.get_by_role("tab", name="AI Providers", exact=True).click()
    key_row = row(page, "Capped key")
    await expect(key_row).to_contain_text("expires in 10 days")
    await expect(key_row).to_contain_text(re.compile(r"\$[\d.]+ of \$0\.0020"))
    await key_row.get_by_role("button", name="Budget & expiry", exact=True).click()
    dialog = page.get_by_role("dialog", name="Budget & expiry")
    await dialog.get_by_label("Monthly budget (USD)", exact=True).fill("-1")
    await dialog.get_by_role("button", name="Save", exact=True).click()
    await expect(dialog.get_by_role("alert")).to_contain_text("more than $0")
    await dialog.get_by_label("Monthly budget (USD)", exact=True).fill("5")
    await dialog.get_by_role("button", name="Save", exact=True).click()
    await expect(dialog).to_be_hidden()
    await expect(key_row).to_contain_text(re.compile(r"\$[\d.]+ of \$5\.00"))

    await page.get_by_role("tab", name="Workspaces", exact=True).click()
    await row(page, "Budgeted").get_by_role("button", name="Edit", exact=True).click()
    edit = page.get_by_role("dialog", name="Edit workspace")
    await edit.get_by_label("Monthly budget (USD)", exact=True).fill("250")
    await edit.get_by_role("button", name="Save", exact=True).click()
    await expect(edit).to_be_hidden()
    body = (await api.get(f"/workspaces/{workspace['id']}")).json()
    assert body["budget_usd_monthly"] == 250
