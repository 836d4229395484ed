"""Production sign-in in the browser: a `prod` gateway (real keyvault and workspace behind
it) whose only sign-in is a real OIDC provider (Dex, started by deploy/local/dex.sh). The user
clicks "Sign in with your organization", signs in on the provider's own login page, comes
back through /auth/callback (Authorization Code + PKCE) and reaches Settings.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Playwright, expect

from shared.contracts import Topics
from shared.kafka import ensure_topics
from tests.e2e.browser.support import CHROMIUM, TOKEN_KEY, VIEWPORT, axe, launch_args
from tests.gateway.support import stack
from tests.support.e2e import ROOT
from tests.support.kafka import kafka_settings
from tests.support.oidc import GROUP_MAPPING, PASSWORD, Dex, dex
from tests.support.servers import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
async def prod_stack(kafka_bootstrap: str, mongo_url: str) -> AsyncIterator[tuple[str, Dex]]:
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    tag = secrets.token_hex(4)
    tokens = {
        f"service_token_{n}": secrets.token_urlsafe(32)
        for n in ("gateway", "keyvault", "workspace", "agent_runner")
    }
    # A prod gateway never creates topics: they exist first, as an operator creates them.
    await ensure_topics(kafka_settings(kafka_bootstrap), Topics(f".oidc{tag}"))
    with dex(2, redirect_uris=[f"{gateway}/auth/callback"]) as provider:
        async with stack(
            bootstrap=kafka_bootstrap,
            mongo_url=mongo_url,
            suffix=f".oidc{tag}",
            db_prefix=f"test_oidc_{tag}",
            common_overrides=tokens,
            gateway_port=port,
            gateway_overrides={
                "flowtrux_env": "prod",
                "gateway_oidc_issuer": provider.issuer,
                "gateway_web_dir": str(ROOT / "services" / "web" / "dist"),
                **GROUP_MAPPING,
            },
        ) as running:
            yield running.gateway, provider


def _claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return data


async def test_sign_in_through_the_provider_reaches_settings(
    playwright: Playwright, prod_stack: tuple[str, Dex]
) -> None:
    gateway, provider = prod_stack
    if not Path(CHROMIUM).is_file():
        message = f"Chromium is not installed at {CHROMIUM}: run `make install`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=launch_args())
    try:
        context = await browser.new_context(base_url=gateway, viewport=VIEWPORT)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto("/settings/ai-providers")
        await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
        await expect(page.get_by_role("button", name="Dev sign-in")).to_have_count(0)
        sign_in = page.get_by_role("button", name="Sign in with your organization")
        await expect(sign_in).to_be_visible()
        assert await axe(page) == []
        await sign_in.click()

        # The provider's own login page (Dex's password connector), on the provider's origin.
        await page.wait_for_url(f"{provider.issuer}/**")
        await page.locator("input[name=login]").fill("owner@example.com")
        await page.locator("input[name=password]").fill(PASSWORD)
        await page.locator("button[type=submit]").click()

        # Back through /auth/callback to where the user started, signed in.
        await page.wait_for_url(f"{gateway}/settings/ai-providers")
        banner = page.get_by_role("banner")
        await expect(banner).to_contain_text("org-oidc")
        await expect(banner).to_contain_text("OWNER")
        await expect(page.get_by_role("button", name="Add Provider")).to_be_visible()
        nav = page.get_by_role("navigation", name="Main")
        await nav.get_by_role("link", name="Workspaces", exact=True).click()
        await nav.get_by_role("link", name="Settings").click()
        await expect(page.get_by_role("button", name="Add Provider")).to_be_visible()

        token = await page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')")
        assert isinstance(token, str)
        claims = _claims(token)
        assert (claims["iss"], claims["aud"]) == (provider.issuer, "flowtrux-ui")
        pending = await page.evaluate("() => sessionStorage.getItem('flowtrux.oidc.pending')")
        assert pending is None  # the verifier, state and nonce are used up
        assert "code=" not in page.url

        # A callback this tab did not start (a forged or replayed link) signs nobody in.
        other = await (await browser.new_context(base_url=gateway, viewport=VIEWPORT)).new_page()
        other.on("pageerror", lambda error: errors.append(str(error)))
        await other.goto("/auth/callback?code=stolen&state=forged")
        await expect(other.get_by_role("alert")).to_contain_text("not started in this tab")
        assert await axe(other) == []
        await other.get_by_role("button", name="Back to sign-in").click()
        await expect(other.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
        assert await other.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is None
        assert errors == []
    finally:
        await browser.close()
