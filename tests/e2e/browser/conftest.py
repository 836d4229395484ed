"""Browser tests: Playwright (async API) driving Debian's Chromium against the e2e stack.

The stack is the session's `e2e` fixture (tests/e2e/conftest.py): the gateway serves the
built UI (services/web/dist) at `/`. Every page a test opens records its console messages,
every URL it navigated to or requested, every response body it received (also handed to
the final canary scan) and uncaught page errors; after each test (passed or failed) each
page is saved as `.local/screenshots/<test name>[-N].png`.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Playwright, async_playwright, expect

from tests.e2e.browser.support import CHROMIUM, UI, launch_args, ui_problem
from tests.support.e2e import E2E, ROOT

SCREENSHOTS = ROOT / ".local" / "screenshots"
expect.set_options(timeout=15_000)


def _missing(what: str) -> None:
    message = f"{what}: run `make install` (deploy/local/bootstrap.sh) or `make test`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as p:
        yield p


@pytest.fixture(scope="session")
async def browser(playwright: Playwright, e2e: E2E) -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).is_file():
        _missing(f"Chromium is not installed at {CHROMIUM}")
    problem = ui_problem(e2e.gateway)
    if problem:
        _missing(problem)
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=launch_args())
    try:
        yield browser
    finally:
        await browser.close()


@pytest.fixture
def org() -> str:
    """A fresh organization per test (`org-<uuid>`), so tests never collide."""
    return f"org-{uuid.uuid4().hex}"


@pytest.fixture
async def api(e2e: E2E, org: str) -> AsyncIterator[httpx.AsyncClient]:
    """The test org's OWNER, through the gateway's API (bodies kept for the canary scan)."""
    async with e2e.client(org, "OWNER") as client:
        yield client


@pytest.fixture
async def ui(browser: Browser, e2e: E2E, request: pytest.FixtureRequest) -> AsyncIterator[UI]:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    session = UI(browser=browser, e2e=e2e, name=name)
    try:
        yield session
    finally:
        await session.finish(SCREENSHOTS)
