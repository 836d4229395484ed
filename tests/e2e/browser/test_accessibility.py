"""axe-core on every screen: no serious or critical violation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser.support import UI, axe, keys_table, quiet, run
from tests.support.e2e import E2E, add_key, add_workspace

pytestmark = pytest.mark.e2e
TABS = {
    "AI Providers": "/settings/ai-providers",
    "Workspaces": "/settings/workspaces",
    "Plan & Usage": "/settings/plan",
    "Audit log": "/settings/audit",
}


async def test_no_serious_or_critical_axe_violation_on_any_screen(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    claude = await add_key(api, "anthropic", "Claude a11y", e2e.canary("anthropic"))
    gpt = await add_key(api, "openai", "GPT a11y", e2e.canary("openai"))
    workspace = await add_workspace(api, "Accessible", [claude["id"], gpt["id"]])
    await run(api, workspace["id"], "claude-haiku-4-5")
    await run(api, workspace["id"], "gpt-5-mini")
    found: dict[str, list[dict[str, Any]]] = {}

    async def check(screen: str, page: Page) -> None:
        await quiet(page)
        found[screen] = await axe(page)

    sign_in = await ui.blank("/")
    await expect(sign_in.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    await check("sign-in", sign_in)

    page = await ui.open(org, path="/workspaces")
    await expect(page.get_by_role("link", name="Accessible", exact=True)).to_be_visible()
    await check("workspaces list", page)

    await page.get_by_role("link", name="Accessible", exact=True).click()
    agent = page.get_by_role("region", name="Agent node")
    await expect(agent.get_by_role("combobox", name="Model", exact=True)).to_be_visible()
    await expect(page.get_by_role("table").filter(has_text="claude-haiku-4-5")).to_be_visible()
    await check("workspace detail", page)
    await agent.get_by_label("Prompt", exact=True).fill("Hello")
    await agent.get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_role("region", name="Result")).to_contain_text("Key: ")
    await check("workspace detail after a run", page)

    for tab, path in TABS.items():
        await page.goto(path)
        await expect(page.get_by_role("tab", name=tab, exact=True)).to_have_attribute(
            "aria-selected", "true"
        )
        if tab == "AI Providers":
            await expect(keys_table(page)).to_contain_text("GPT a11y")
        await check(f"Settings › {tab}", page)

    await page.goto("/settings/ai-providers")
    await page.get_by_role("button", name="Add Provider", exact=True).click()
    await expect(page.get_by_role("dialog", name="Add Provider")).to_be_visible()
    await check("Add Provider dialog", page)

    failing = {screen: v for screen, v in found.items() if v}
    assert failing == {}, "axe-core violations:\n" + "\n".join(
        f"{screen}: {v['impact']} {v['id']} ({v['help']}): {v['nodes']}"
        for screen, violations in failing.items()
        for v in violations
    )
