"""Screenshots for the documentation (`make screenshots`).

Always written to .local/screenshots/docs-*.png; with FLOWTRUX_DOCS_SCREENSHOTS=1 also to
docs/screenshots/ai-providers.png and docs/screenshots/agent-node.png (1280x800 viewport).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser.support import UI, keys_table, quiet, run
from tests.support.e2e import E2E, ROOT, add_key, add_workspace

pytestmark = pytest.mark.e2e
LOCAL = ROOT / ".local" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"


async def _save(page: Page, name: str) -> list[Path]:
    await quiet(page)
    targets = [LOCAL / f"docs-{name}.png"]
    if os.environ.get("FLOWTRUX_DOCS_SCREENSHOTS") == "1":
        targets.append(DOCS / f"{name}.png")
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(target), full_page=True, animations="disabled")
    return targets


async def test_docs_screenshots(ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient) -> None:
    claude = await add_key(api, "anthropic", "Production Anthropic Key", e2e.canary("anthropic"))
    gpt = await add_key(api, "openai", "OpenAI dev", e2e.canary("openai"))
    gemini = await add_key(api, "google", "Gemini", e2e.canary("google"))
    support = await add_workspace(api, "Customer support", [claude["id"], gpt["id"]])
    await add_workspace(api, "Research", [gemini["id"], claude["id"]])
    for model in ("claude-sonnet-4-6", "gpt-5-mini"):
        assert (await run(api, support["id"], model))["status"] == "succeeded"

    page = await ui.open(org, path="/settings/ai-providers")
    await expect(keys_table(page)).to_contain_text("Gemini")
    await expect(page.get_by_role("heading", name="Supported models")).to_be_visible()
    for path in await _save(page, "ai-providers"):
        assert path.stat().st_size > 10_000

    await page.goto(f"/workspaces/{support['id']}")
    agent = page.get_by_role("region", name="Agent node")
    await agent.get_by_role("combobox", name="Model", exact=True).select_option("claude-sonnet-4-6")
    await agent.get_by_label("Prompt", exact=True).fill(
        "Summarize this ticket in one sentence: the invoice total is wrong."
    )
    await agent.get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_role("region", name="Result")).to_contain_text(
        "Key: Production Anthropic Key"
    )
    for path in await _save(page, "agent-node"):
        assert path.stat().st_size > 10_000
