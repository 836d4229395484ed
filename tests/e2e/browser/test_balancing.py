"""Settings › Workspaces › Edit sets the key choice per provider (round robin with weights)
and the max_tokens cap; the Agent node's run respects the cap and explains a rate limit."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.browser.support import UI, nav_to, row
from tests.support.e2e import E2E, add_key, add_workspace, wait_for

pytestmark = pytest.mark.e2e


@pytest.mark.runs_late  # spends the org's test runs: up to 2 windows in the shared ledger
async def test_edit_sets_round_robin_weights_and_the_cap_and_runs_follow_them(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    first = await add_key(api, "anthropic", "First Claude", e2e.canary("anthropic"))
    second = await add_key(api, "anthropic", "Second Claude", e2e.canary("anthropic"))
    workspace = await add_workspace(api, "Spread", [first["id"], second["id"]])
    page = await ui.open(org, path="/settings/workspaces")
    await nav_to(page, "Settings")
    await page.get_by_role("tab", name="Workspaces", exact=True).click()
    await row(page, "Spread").get_by_role("button", name="Edit", exact=True).click()
    dialog = page.get_by_role("dialog", name="Edit workspace")
    await expect(dialog).to_be_visible()
    choice = dialog.get_by_label("Anthropic key choice", exact=True)
    await expect(choice).to_have_value("ordered")
    await choice.select_option("round_robin")
    weight = dialog.get_by_label("Weight of First Claude", exact=True)
    await weight.fill("101")
    await dialog.get_by_label("Max tokens per test run", exact=True).fill("48")
    await dialog.get_by_role("button", name="Save", exact=True).click()
    await expect(dialog.get_by_role("alert").filter(has_text="from 1 to 100")).to_be_visible()
    await weight.fill("3")
    await dialog.get_by_role("button", name="Save", exact=True).click()
    await expect(dialog).to_be_hidden()
    stored = (await api.get(f"/workspaces/{workspace['id']}")).json()
    assert stored["routing"] == {
        "anthropic": {"strategy": "round_robin", "weights": {first["id"]: 3}}
    }
    assert stored["max_tokens_cap"] == 48

    # The Agent node asks for no more than the cap, and its run succeeds.
    await page.goto(f"{e2e.gateway}/workspaces/{workspace['id']}")
    agent = page.get_by_role("region", name="Agent node")
    await agent.get_by_label("Prompt", exact=True).fill("Balanced hello")
    await agent.get_by_role("button", name="Run", exact=True).click()
    result = page.get_by_role("region", name="Result")
    await expect(result).to_contain_text("succeeded")
    await expect(result).to_contain_text(re.compile(r"Key: (First|Second) Claude"))

    # The org spends its test runs through the API; the next Run says it is rate-limited.
    body = {
        "model": "claude-haiku-4-5",
        "input": {"messages": [{"role": "user", "content": "x"}], "max_tokens": 8},
    }
    admitted = 1  # the run above
    for _ in range(250):  # the default is 120 per fixed minute: 2 windows at most
        response = await api.post(f"/workspaces/{workspace['id']}/executions", json=body)
        if response.status_code == 429:
            break
        admitted += 1
    assert response.status_code == 429
    await agent.get_by_role("button", name="Run", exact=True).click()
    limited = page.get_by_role("alert").filter(has_text="Too many test runs")
    await expect(limited).to_be_visible()
    await expect(limited).to_contain_text(re.compile(r"try again in \d+ s"))
    assert ui.recorder(page).page_errors == []

    async def drained() -> bool:  # the admitted runs finish before the next test
        items = (await api.get("/usage", params={"group_by": "workspace"})).json()["items"]
        return any(i["executions"] >= admitted for i in items)

    await wait_for(drained, timeout=300, interval=1.0)
