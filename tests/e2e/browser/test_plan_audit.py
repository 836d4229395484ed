"""Settings › Plan & Usage and Settings › Audit log, filled by runs made through the API."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.browser.support import UI, data_rows, run
from tests.support.e2e import E2E, add_key, add_workspace, wait_for

pytestmark = pytest.mark.e2e


async def _runs(api: httpx.AsyncClient, workspace_id: str, models: list[str], width: int) -> None:
    """All runs of `models` through the API, `width` at a time; every one must succeed."""
    gate = asyncio.Semaphore(width)

    async def one(model: str) -> dict[str, Any]:
        async with gate:
            return await run(api, workspace_id, model)

    results = await asyncio.gather(*(one(m) for m in models))
    assert [r for r in results if r["status"] != "succeeded"] == []


async def test_plan_and_usage_shows_the_limits_and_the_cost_per_day(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    claude = await add_key(api, "anthropic", "Usage Claude", e2e.canary("anthropic"))
    gpt = await add_key(api, "openai", "Usage GPT", e2e.canary("openai"))
    gemini = await add_key(api, "google", "Usage Gemini", e2e.canary("google"))
    workspace = await add_workspace(api, "Usage", [claude["id"], gpt["id"], gemini["id"]])
    await _runs(api, workspace["id"], ["claude-haiku-4-5"] * 2 + ["gpt-5-mini"], 3)

    async def ledger() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await api.get("/usage", params={"group_by": "key"})).json()[
            "items"
        ]
        return items if sum(i["executions"] for i in items) == 3 else None

    await wait_for(ledger, timeout=30)

    page = await ui.open(org, path="/settings/plan")
    await expect(page.get_by_role("tab", name="Plan & Usage", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(page.get_by_role("heading", name=re.compile(r"Plan: starter"))).to_be_visible()
    keys_bar = page.get_by_role("progressbar", name="Provider keys: 3 of 3")
    await expect(keys_bar).to_be_visible()
    await expect(keys_bar).to_have_attribute("aria-valuenow", "3")
    await expect(keys_bar).to_have_attribute("aria-valuemax", "3")
    await expect(page.get_by_role("progressbar", name="Workspaces: 1 of 3")).to_be_visible()
    await expect(page.get_by_text("Executions this month: 3")).to_be_visible()
    await expect(page.get_by_text(re.compile(r"Cost this month: \$\d+\.\d{2,}"))).to_be_visible()

    await page.get_by_role("combobox", name="Period", exact=True).select_option(label="Last 7 days")
    await page.get_by_role("combobox", name="Group by", exact=True).select_option(label="Key")
    chart = page.get_by_role("img", name="Cost per day")
    await expect(chart).to_be_visible()
    assert await chart.evaluate("el => el.tagName.toLowerCase()") == "svg"
    series = chart.locator("path, polyline, rect, circle")
    await expect(series.first).to_be_attached()
    assert await series.count() >= 2
    await expect(page.get_by_text("No usage in this period.")).to_have_count(0)
    table = page.get_by_role("table", name="Usage")
    await expect(data_rows(table)).to_have_count(2)
    await expect(data_rows(table).filter(has_text="Usage Claude")).to_contain_text("2")
    await expect(data_rows(table).filter(has_text="Usage GPT")).to_contain_text("1")
    await page.get_by_role("combobox", name="Group by", exact=True).select_option(label="Model")
    await expect(data_rows(table).filter(has_text="claude-haiku-4-5")).to_have_count(1)
    await expect(data_rows(table).filter(has_text="gpt-5-mini")).to_have_count(1)

    # The 4th key: the dialog says the plan is full and links to Plan & Usage.
    await page.get_by_role("tab", name="AI Providers", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/settings/ai-providers$"))
    await page.get_by_role("button", name="Add Provider", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add Provider")
    await expect(
        dialog.get_by_role("alert").filter(
            has_text="Plan limit reached: the starter plan allows 3 provider keys."
        )
    ).to_be_visible()
    await expect(dialog.get_by_role("button", name="Save", exact=True)).to_be_disabled()
    await dialog.get_by_role("link", name="Plan & Usage", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/settings/plan$"))
    await expect(page.get_by_role("progressbar", name="Provider keys: 3 of 3")).to_be_visible()
    assert ui.recorder(page).page_errors == []


async def test_audit_log_pages_through_more_than_100_entries(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    audited = await add_key(api, "anthropic", "Audited", e2e.canary("anthropic"))
    await add_key(api, "openai", "Quiet", e2e.canary("openai"))
    workspace = await add_workspace(api, "Audit", [audited["id"]])
    runs = 105
    await _runs(api, workspace["id"], ["claude-haiku-4-5"] * runs, 15)

    async def entries() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            body = (await api.get("/audit", params=params)).json()
            items += body["items"]
            cursor = body["next_cursor"]
            if not cursor:
                break
        resolved = [i for i in items if i["action"] == "resolved"]
        return items if len(resolved) >= runs else None

    everything = await wait_for(entries, timeout=60, interval=0.5)
    total = len(everything)
    assert 100 < total < 200

    page = await ui.open(org, path="/settings/audit")
    table = page.get_by_role("table")
    next_page = page.get_by_role("button", name="Next page", exact=True)
    previous = page.get_by_role("button", name="Previous page", exact=True)
    await expect(page.get_by_text("Page 1", exact=True)).to_be_visible()
    await expect(data_rows(table)).to_have_count(100)
    await expect(data_rows(table).first).to_contain_text("Audited")
    await expect(data_rows(table).first).to_contain_text("resolved")
    await expect(next_page).to_be_enabled()

    await next_page.click()
    await expect(page.get_by_text("Page 2", exact=True)).to_be_visible()
    await expect(data_rows(table)).to_have_count(total - 100)
    await expect(next_page).to_be_disabled()
    # The oldest entries are the keys' creation.
    await expect(data_rows(table).filter(has_text="Quiet")).to_have_count(1)

    await previous.click()
    await expect(page.get_by_text("Page 1", exact=True)).to_be_visible()
    await expect(data_rows(table)).to_have_count(100)
    await expect(next_page).to_be_enabled()

    await page.get_by_role("combobox", name="Key", exact=True).select_option(label="Quiet")
    await expect(data_rows(table)).to_have_count(1)
    await expect(data_rows(table)).to_contain_text("Quiet")
    await expect(next_page).to_be_disabled()
    assert ui.recorder(page).page_errors == []
