"""Settings › Workspaces › Edit decides the models a workspace offers; its Agent node runs."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser.support import (
    UI,
    catalog_models,
    current_models,
    data_rows,
    model_select,
    models_shown,
    nav_to,
    row,
    tab_until_focused,
)
from tests.support.e2e import E2E, add_key, add_workspace, assign

pytestmark = pytest.mark.e2e


async def _edit(page: Page, workspace: str, ticks: dict[str, bool]) -> None:
    """Settings › Workspaces › "Edit" of `workspace`: set the key checkboxes, "Save"."""
    await nav_to(page, "Settings")
    await page.get_by_role("tab", name="Workspaces", exact=True).click()
    await expect(page.get_by_role("tab", name="Workspaces", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(page).to_have_url(re.compile(r"/settings/workspaces$"))
    await row(page, workspace).get_by_role("button", name="Edit", exact=True).click()
    dialog = page.get_by_role("dialog", name="Edit workspace")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Name", exact=True)).to_have_value(workspace)
    providers = dialog.get_by_role("group", name="AI Providers")
    for key_name, ticked in ticks.items():
        await providers.get_by_role("checkbox", name=key_name, exact=True).set_checked(ticked)
    await dialog.get_by_role("button", name="Save", exact=True).click()
    await expect(dialog).to_be_hidden()


async def test_assigning_keys_in_edit_decides_the_models_of_the_workspace(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    claude = await add_key(api, "anthropic", "Claude team key", e2e.canary("anthropic"))
    gpt = await add_key(api, "openai", "GPT team key", e2e.canary("openai"))
    workspace = await add_workspace(api, "Marketing")
    anthropic = set(await catalog_models(api, "anthropic"))
    openai = set(await catalog_models(api, "openai"))
    assert (len(anthropic), len(openai)) == (7, 6)

    page = await ui.open(org, path="/workspaces")
    assert await models_shown(page, "Marketing", 0) == set()

    await _edit(page, "Marketing", {"Claude team key": True})
    assert await models_shown(page, "Marketing", 7) == anthropic
    groups = model_select(page).locator("optgroup")
    await expect(groups).to_have_count(1)
    await expect(groups).to_have_attribute("label", "Anthropic")
    first = model_select(page).locator("option[value='claude-opus-4-6']")
    await expect(first).to_have_text(
        "claude-opus-4-6 — Most capable, complex multi-step reasoning, 1M context"
    )

    await _edit(page, "Marketing", {"GPT team key": True})
    assert await models_shown(page, "Marketing", 13) == anthropic | openai
    labels = await model_select(page).locator("optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert labels == ["Anthropic", "OpenAI"]
    ids = (await api.get(f"/workspaces/{workspace['id']}")).json()["ai_provider_ids"]
    assert sorted(ids) == sorted([claude["id"], gpt["id"]])

    await _edit(page, "Marketing", {"GPT team key": False})
    assert await models_shown(page, "Marketing", 7) == anthropic
    ids = (await api.get(f"/workspaces/{workspace['id']}")).json()["ai_provider_ids"]
    assert ids == [claude["id"]]
    assert ui.recorder(page).page_errors == []


async def test_agent_node_runs_and_shows_the_result_or_the_missing_provider(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    key = await add_key(api, "anthropic", "Claude for runs", e2e.canary("anthropic"))
    workspace = await add_workspace(api, "Runs", [key["id"]])
    page = await ui.open(org, path=f"/workspaces/{workspace['id']}")
    await expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    await current_models(page, 7)
    agent = page.get_by_role("region", name="Agent node")
    await model_select(page).select_option("claude-haiku-4-5")
    await agent.get_by_label("Prompt", exact=True).fill("Say hello to the browser test")
    await agent.get_by_role("button", name="Run", exact=True).click()

    result = page.get_by_role("region", name="Result")
    await expect(result).to_contain_text("[claude-haiku-4-5] Say hello to the browser test")
    await expect(result).to_contain_text("Key: Claude for runs")
    await expect(result).to_contain_text("succeeded")
    runs = (await api.get(f"/workspaces/{workspace['id']}/executions", params={"limit": 5})).json()
    assert len(runs["items"]) == 1
    done = runs["items"][0]
    assert done["status"] == "succeeded"
    assert done["key_name"] == "Claude for runs"
    usage = done["usage"]
    await expect(result).to_contain_text(
        f"Tokens: {usage['input_tokens']} in / {usage['output_tokens']} out"
    )
    await expect(result).to_contain_text(re.compile(r"Cost: \$\d+\.\d{2,}"))
    await expect(result).to_contain_text(f"Duration: {done['duration_ms']} ms")
    recent = data_rows(page.get_by_role("table").filter(has_text="Claude for runs"))
    await expect(recent).to_have_count(1)
    for shown in ("claude-haiku-4-5", "succeeded", "Claude for runs", f"{done['duration_ms']} ms"):
        await expect(recent).to_contain_text(shown)
    # Its first column is the time of the run (a date, not a dash).
    await expect(recent.get_by_role("cell").first).to_have_text(re.compile(r"\d"))

    # The key is taken away behind the page's back: the run fails, and says what to do.
    await assign(api, workspace["id"], [])
    await agent.get_by_role("button", name="Run", exact=True).click()
    problem = page.get_by_role("alert").filter(has_text="Settings › Workspaces › Edit")
    await expect(problem).to_be_visible()
    await expect(problem).to_contain_text(
        re.compile(r"Assign an? Anthropic key to this workspace in Settings › Workspaces › Edit\.")
    )

    async def failed() -> dict[str, object] | None:
        items = (
            await api.get(f"/workspaces/{workspace['id']}/executions", params={"limit": 5})
        ).json()["items"]
        return items[0] if len(items) == 2 and items[0]["status"] == "failed" else None

    last = await failed()
    assert last is not None
    error = last["error"]
    assert isinstance(error, dict)
    assert error["code"] == "provider_not_configured"
    await expect(problem).to_contain_text(str(error["message"]))
    assert ui.recorder(page).page_errors == []


async def test_edit_orders_the_keys_of_a_provider_with_the_keyboard_alone(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    first = await add_key(api, "anthropic", "First Claude", e2e.canary("anthropic"))
    second = await add_key(api, "anthropic", "Second Claude", e2e.canary("anthropic"))
    workspace = await add_workspace(api, "Ordered", [first["id"], second["id"]])
    page = await ui.open(org, path="/settings/workspaces")
    edit = row(page, "Ordered").get_by_role("button", name="Edit", exact=True)
    await expect(edit).to_be_enabled()
    await tab_until_focused(page, edit)
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Edit workspace")
    await expect(dialog).to_be_visible()
    assert await dialog.evaluate("d => d.contains(document.activeElement)")

    ups = dialog.get_by_role("button", name="Move up", exact=True)
    downs = dialog.get_by_role("button", name="Move down", exact=True)
    await expect(ups).to_have_count(2)
    await expect(ups.first).to_be_disabled()  # the first key of the provider
    await expect(downs.last).to_be_disabled()  # the last one
    await tab_until_focused(page, ups.nth(1), most=15)
    await page.keyboard.press("Enter")
    boxes = dialog.get_by_role("group", name="AI Providers").get_by_role("checkbox")
    names = await boxes.evaluate_all(
        """bs => bs.filter(b => b.checked).map(b =>
            (b.getAttribute('aria-label') ?? b.labels?.[0]?.textContent ?? '').trim())"""
    )
    assert names == ["Second Claude", "First Claude"], names
    save = dialog.get_by_role("button", name="Save", exact=True)
    await tab_until_focused(page, save, most=15)
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_hidden()
    ids = (await api.get(f"/workspaces/{workspace['id']}")).json()["ai_provider_ids"]
    assert ids == [second["id"], first["id"]]
    assert ui.recorder(page).page_errors == []
