"""Settings › AI Providers: add, delete, keyboard-only use and bad input, as an OWNER sees them."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.browser.support import (
    UI,
    catalog_models,
    keys_table,
    models_shown,
    nav_to,
    row,
    tab_until_focused,
)
from tests.support.e2e import E2E, add_key, add_workspace

pytestmark = pytest.mark.e2e
SETTINGS = "/settings/ai-providers"


async def test_owner_adds_an_anthropic_key_and_sees_only_its_masked_preview(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    secret = e2e.canary("anthropic")
    page = await ui.open(org, path=SETTINGS)
    await page.get_by_role("button", name="Add Provider", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add Provider")
    await expect(dialog).to_be_visible()
    provider = dialog.get_by_role("combobox", name="Provider", exact=True)
    await expect(provider.locator("option")).to_have_text(["Anthropic", "OpenAI", "Google"])
    await provider.select_option("anthropic")
    name = dialog.get_by_label("Name", exact=True)
    await expect(name).to_have_attribute("placeholder", "Production Anthropic Key")
    await name.fill("Production Anthropic Key")
    key = dialog.get_by_label("API key", exact=True)
    await expect(key).to_have_attribute("type", "password")
    await expect(key).to_have_attribute("autocomplete", "off")
    await expect(key).to_have_attribute("spellcheck", "false")
    await key.fill(secret)
    await dialog.get_by_role("button", name="Save", exact=True).click()

    await expect(dialog).to_be_hidden()
    listed = row(keys_table(page), "Production Anthropic Key")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text(f"sk-ant-…{secret[-4:]}")
    await expect(listed).to_contain_text("Anthropic")
    await expect(listed).to_contain_text("Never")
    stored = (await api.get("/ai-providers")).json()["items"]
    assert [(k["name"], k["preview"]) for k in stored] == [
        ("Production Anthropic Key", f"sk-ant-…{secret[-4:]}")
    ]

    # Opened again, the dialog starts empty: the value was dropped with the dialog.
    await page.get_by_role("button", name="Add Provider", exact=True).click()
    await expect(dialog.get_by_label("API key", exact=True)).to_have_value("")
    await dialog.get_by_role("button", name="Cancel", exact=True).click()
    await expect(dialog).to_be_hidden()

    await ui.assert_nowhere(secret)
    recorder = ui.recorder(page)
    assert recorder.page_errors == []
    posts = recorder.api_calls("POST", "/ai-providers")
    assert len(posts) == 1  # the only place the key went: the body of one POST


async def test_delete_names_the_workspaces_that_lose_the_key_and_their_models_shrink(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    claude = await add_key(api, "anthropic", "Claude stays", e2e.canary("anthropic"))
    gpt = await add_key(api, "openai", "GPT goes", e2e.canary("openai"))
    await add_workspace(api, "Alpha", [claude["id"], gpt["id"]])
    await add_workspace(api, "Beta", [gpt["id"]])
    await add_workspace(api, "Gamma", [claude["id"]])
    spare = await add_key(api, "google", "Spare", e2e.canary("google"))
    anthropic_models = await catalog_models(api, "anthropic")
    openai_models = await catalog_models(api, "openai")

    page = await ui.open(org, path="/workspaces")
    assert await models_shown(page, "Alpha", 13) == set(anthropic_models + openai_models)
    assert await models_shown(page, "Beta", 6) == set(openai_models)

    await nav_to(page, "Settings")
    await expect(page).to_have_url(re.compile(r"/settings/ai-providers$"))
    gpt_row = row(keys_table(page), "GPT goes")
    await expect(gpt_row).to_contain_text("Alpha")
    await expect(gpt_row).to_contain_text("Beta")
    await expect(row(keys_table(page), "Spare")).to_contain_text("—")
    await gpt_row.get_by_role("button", name="Delete", exact=True).click()
    confirm = page.get_by_role("alertdialog", name="Delete provider key")
    await expect(confirm).to_be_visible()
    await expect(confirm).to_contain_text(
        re.compile(r"Delete GPT goes\? These workspaces lose this key: (Alpha, Beta|Beta, Alpha)\.")
    )
    await expect(confirm).not_to_contain_text("Gamma")
    await confirm.get_by_role("button", name="Delete", exact=True).click()
    await expect(confirm).to_be_hidden()
    await expect(row(keys_table(page), "GPT goes")).to_have_count(0)
    await expect(row(keys_table(page), "Claude stays")).to_have_count(1)
    remaining = {k["id"] for k in (await api.get("/ai-providers")).json()["items"]}
    assert remaining == {claude["id"], spare["id"]}

    # The app's cached lists were refreshed: no reload between here and the workspaces.
    assert await models_shown(page, "Alpha", 7) == set(anthropic_models)
    assert await models_shown(page, "Beta", 0) == set()
    await expect(
        page.get_by_role("region", name="Agent node").get_by_role("button", name="Run")
    ).to_be_disabled()

    # A key no workspace uses says so; Cancel keeps it.
    await nav_to(page, "Settings")
    await row(keys_table(page), "Spare").get_by_role("button", name="Delete", exact=True).click()
    await expect(confirm).to_contain_text("Delete Spare? No workspace uses this key.")
    await confirm.get_by_role("button", name="Cancel", exact=True).click()
    await expect(confirm).to_be_hidden()
    await expect(row(keys_table(page), "Spare")).to_have_count(1)
    assert ui.recorder(page).page_errors == []


async def test_add_provider_with_the_keyboard_alone(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    secret = e2e.canary("openai")
    page = await ui.open(org, path=SETTINGS)
    add = page.get_by_role("button", name="Add Provider", exact=True)
    await expect(add).to_be_enabled()
    await expect(keys_table(page)).to_be_visible()
    await tab_until_focused(page, add)
    await page.keyboard.press("Enter")

    dialog = page.get_by_role("dialog", name="Add Provider")
    await expect(dialog).to_be_visible()
    provider = dialog.get_by_role("combobox", name="Provider", exact=True)
    await expect(provider).to_be_focused()  # the dialog's first field
    await page.keyboard.type("O")  # type-ahead: OpenAI
    await expect(provider).to_have_value("openai")
    name = dialog.get_by_label("Name", exact=True)
    await tab_until_focused(page, name, most=5)
    await page.keyboard.type("Keyboard OpenAI")
    key = dialog.get_by_label("API key", exact=True)
    await tab_until_focused(page, key, most=5)
    await page.keyboard.type(secret)
    verify = dialog.get_by_label("Verify with the provider", exact=True)
    await tab_until_focused(page, verify, most=5)
    await page.keyboard.press("Space")
    await expect(verify).to_be_checked()
    save = dialog.get_by_role("button", name="Save", exact=True)
    # Focus is trapped: Tab from the last control comes back into the dialog, and Shift+Tab
    # from the first goes to the last, never to the page behind.
    await tab_until_focused(page, provider, most=12)
    await page.keyboard.press("Shift+Tab")
    assert await dialog.evaluate("d => d.contains(document.activeElement)")
    await tab_until_focused(page, save, shift=True, most=12)
    await page.keyboard.press("Enter")

    await expect(dialog).to_be_hidden()
    await expect(add).to_be_focused()
    await expect(row(keys_table(page), "Keyboard OpenAI")).to_contain_text(f"…{secret[-4:]}")
    items = (await api.get("/ai-providers")).json()["items"]
    assert [(k["name"], k["provider"]) for k in items] == [("Keyboard OpenAI", "openai")]

    # Escape closes the dialog too, focus back on the opener; Space opens it.
    await page.keyboard.press("Space")
    await expect(dialog).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(add).to_be_focused()
    await ui.assert_nowhere(secret)


async def _problem(api: httpx.AsyncClient, body: dict[str, object], status: int) -> str:
    response = await api.post("/ai-providers", json=body)
    assert response.status_code == status, response.text
    detail: str = response.json()["detail"]
    return detail


async def test_bad_input_is_shown_inline_and_never_crashes_the_page(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient
) -> None:
    await add_key(api, "anthropic", "Existing", e2e.canary("anthropic"))
    good, rejected = e2e.canary("anthropic"), e2e.canary("anthropic", marker="fail401")
    taken = await _problem(api, {"provider": "anthropic", "name": "Existing", "api_key": good}, 409)
    refused = await _problem(
        api, {"provider": "anthropic", "name": "Fresh", "api_key": rejected, "verify": True}, 422
    )

    page = await ui.open(org, path=SETTINGS)
    await page.get_by_role("button", name="Add Provider", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add Provider")
    await dialog.get_by_role("combobox", name="Provider", exact=True).select_option("anthropic")
    name = dialog.get_by_label("Name", exact=True)
    key = dialog.get_by_label("API key", exact=True)
    save = dialog.get_by_role("button", name="Save", exact=True)

    async def alert(text: str) -> None:
        await expect(dialog.get_by_role("alert").filter(has_text=text)).to_be_visible()

    await key.fill(good)
    await name.fill("")
    await save.click()
    await alert("Name must be 1–64 characters.")
    await name.fill("n" * 200)
    await save.click()
    await alert("Name must be 1–64 characters.")
    assert ui.recorder(page).api_calls("POST", "/ai-providers") == []

    await name.fill("Existing")
    await save.click()
    await alert(taken)
    await expect(dialog).to_be_visible()

    await name.fill("Fresh")
    await key.fill("   \t  ")
    await save.click()
    await alert("Paste the API key.")
    assert len(ui.recorder(page).api_calls("POST", "/ai-providers")) == 1

    await key.fill(rejected)
    await dialog.get_by_label("Verify with the provider", exact=True).check()
    await save.click()
    await alert(refused)
    await expect(dialog).to_be_visible()
    await expect(keys_table(page)).to_be_visible()

    items = (await api.get("/ai-providers")).json()["items"]
    assert [k["name"] for k in items] == ["Existing"]
    recorder = ui.recorder(page)
    assert recorder.page_errors == []
    await ui.assert_nowhere(good)
    await ui.assert_nowhere(rejected)
