"""Who gets in: roles, expired tokens, the dev sign-in, and a gateway that does not answer."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
from playwright.async_api import Page, Route, expect

from tests.e2e.browser.support import TOKEN_KEY, UI, keys_table
from tests.support.e2e import E2E, add_key, add_workspace

pytestmark = pytest.mark.e2e
UNREACHABLE = "Cannot reach the FlowTrux API. Check that the gateway is running, then reload."


async def _token_in_storage(page: Page) -> str | None:
    value: str | None = await page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')")
    return value


@pytest.mark.parametrize("role", ["MEMBER", "ADMIN"])
async def test_settings_require_the_owner_role(
    ui: UI, e2e: E2E, org: str, api: httpx.AsyncClient, role: str
) -> None:
    await add_key(api, "anthropic", "Owner only", e2e.canary("anthropic"))
    await add_workspace(api, "Visible to all")
    page = await ui.open(org, role, path="/workspaces")
    banner = page.get_by_role("banner")
    await expect(banner).to_contain_text(role)
    await expect(banner).to_contain_text(f"user-{role.lower()}-{org}")
    await expect(banner.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(page.get_by_role("link", name="Visible to all", exact=True)).to_be_visible()

    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Workspaces", exact=True)).to_be_visible()
    await expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    settings = nav.locator("[aria-disabled='true']").filter(has_text="Settings")
    await expect(settings).to_have_count(1)
    await expect(nav.get_by_text("Requires OWNER role")).to_be_visible()

    for path in ("/settings/ai-providers", "/settings", "/settings/audit"):
        await page.goto(path)
        await expect(page.get_by_text("Requires OWNER role").first).to_be_visible()
        await expect(page.get_by_role("banner")).to_contain_text(org)
        await expect(keys_table(page)).to_have_count(0)
        await expect(page.get_by_role("button", name="Add Provider")).to_have_count(0)
        await expect(page.get_by_text("Owner only")).to_have_count(0)
    recorder = ui.recorder(page)
    assert recorder.page_errors == []


async def test_an_expired_token_returns_to_sign_in(ui: UI, e2e: E2E, org: str) -> None:
    expired = e2e.token(org, "OWNER", exp=int(time.time()) - 60)
    page = await ui.open(org, path="/settings/ai-providers", token=expired, signed_in=False)
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    await expect(
        page.get_by_role("alert").filter(has_text="Your session has expired. Sign in again.")
    ).to_be_visible()
    await expect(page.get_by_label("Access token", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    assert "token=" not in page.url
    assert await _token_in_storage(page) != expired

    # Pasting a valid token signs in.
    await page.get_by_label("Access token", exact=True).fill(e2e.token(org, "OWNER"))
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("banner")).to_contain_text(org)
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_have_count(0)


async def _unreachable(route: Route) -> None:
    await route.abort("connectionrefused")


async def _bad_gateway(route: Route) -> None:
    await route.fulfill(status=502, body="Bad Gateway", content_type="text/plain")


@pytest.mark.parametrize("failure", ["connection refused", "502 without a problem body"])
async def test_a_gateway_that_does_not_answer_shows_an_alert_not_a_blank_page(
    ui: UI, e2e: E2E, org: str, failure: str
) -> None:
    context, recorder = await ui.context()
    # Only this page's API calls fail: the UI's own files and the real gateway stay up.
    handler = _unreachable if failure == "connection refused" else _bad_gateway
    await context.route(re.compile(r".*/api/v1/.*"), handler)
    page = await context.new_page()
    await page.goto(f"/workspaces#token={e2e.token(org, 'OWNER')}")
    alert = page.get_by_role("alert").filter(has_text=UNREACHABLE)
    await expect(alert).to_be_visible()
    assert (await page.locator("body").inner_text()).strip() != ""
    assert recorder.page_errors == []

    # Unsigned, the sign-in screen can't ask for its options either: still the alert.
    blank = await context.new_page()
    await blank.goto("/")
    await expect(blank.get_by_role("alert").filter(has_text=UNREACHABLE)).to_be_visible()


async def test_dev_sign_in_reaches_the_app_as_that_org_and_role(ui: UI, e2e: E2E) -> None:
    org = f"org-{uuid.uuid4().hex}"
    page = await ui.blank("/")
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    await expect(page.get_by_label("Access token", exact=True)).to_be_visible()
    organization = page.get_by_label("Organization", exact=True)
    await expect(organization).to_have_value("org-dev")
    role = page.get_by_role("combobox", name="Role", exact=True)
    await expect(role.locator("option")).to_have_text(["OWNER", "ADMIN", "MEMBER"])
    await organization.fill(org)
    await role.select_option("ADMIN")
    await page.get_by_role("button", name="Dev sign-in", exact=True).click()

    banner = page.get_by_role("banner")
    await expect(banner).to_contain_text(org)
    await expect(banner).to_contain_text("ADMIN")
    await expect(page).to_have_url(re.compile(r"/workspaces$"))
    token = await _token_in_storage(page)
    assert token
    async with httpx.AsyncClient(base_url=f"{e2e.gateway}/api/v1") as client:
        me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert (me.json()["org_id"], me.json()["role"]) == (org, "ADMIN")
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_text("Requires OWNER role")).to_be_visible()

    await banner.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    assert await _token_in_storage(page) is None
    assert ui.recorder(page).page_errors == []
