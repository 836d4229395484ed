"""Helpers of the browser tests: signed-in pages that record what they saw, axe-core, and
small API shortcuts for setting up an organization."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    ViewportSize,
    WebError,
    expect,
)
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from tests.support.e2e import E2E, ROOT, wait_for

CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "tests" / "e2e" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
TOKEN_KEY = "flowtrux.token"


def launch_args() -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ]


def ui_problem(gateway: str) -> str | None:
    """Why the gateway does not serve the built UI at `/`, or None when it does."""
    try:
        response = httpx.get(f"{gateway}/", timeout=10)
    except httpx.HTTPError as exc:
        return f"the gateway at {gateway} does not answer ({exc!r})"
    if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
        return (
            f"the gateway does not serve the UI at / (HTTP {response.status_code}: "
            f"{response.text[:200]}); build it with deploy/local/web.sh"
        )
    return None


@dataclass
class Recorder:
    """What the pages of one browser context saw."""

    console: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    def attach(self, context: BrowserContext) -> None:
        context.on("console", self._on_console)
        context.on("request", self._on_request)
        context.on("response", self._on_response)
        context.on("weberror", self._on_error)
        context.on("page", self._on_page)

    def _on_page(self, page: Page) -> None:
        page.on("framenavigated", lambda frame: self.urls.append(frame.url))

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def _on_error(self, error: WebError) -> None:
        self.page_errors.append(str(error.error))

    def _on_request(self, request: Request) -> None:
        self.urls.append(request.url)
        self.requests.append((request.method, request.url, request.post_data))

    def _on_response(self, response: Response) -> None:
        task = asyncio.ensure_future(self._keep(response))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _keep(self, response: Response) -> None:
        try:
            body = await response.body()
        except Exception:  # redirects, closed pages: no body to keep
            return
        self.bodies.append((response.url, body))

    async def settle(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def api_calls(self, method: str, path: str) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == method and f"/api/v1{path}" in r[1]]


@dataclass
class UI:
    """Browser contexts opened by one test, each with its recorder."""

    browser: Browser
    e2e: E2E
    name: str
    contexts: list[tuple[BrowserContext, Recorder]] = field(default_factory=list)

    async def context(self, **options: Any) -> tuple[BrowserContext, Recorder]:
        context = await self.browser.new_context(
            base_url=self.e2e.gateway, viewport=VIEWPORT, **options
        )
        recorder = Recorder()
        recorder.attach(context)
        self.contexts.append((context, recorder))
        return context, recorder

    async def blank(self, path: str = "/") -> Page:
        """A page without any token."""
        context, _ = await self.context()
        page = await context.new_page()
        await page.goto(path)
        return page

    async def open(
        self,
        org: str,
        role: str = "OWNER",
        path: str = "/workspaces",
        *,
        token: str | None = None,
        signed_in: bool = True,
    ) -> Page:
        """A page opened at `path#token=<jwt>` (the sign-in link `make dev` prints)."""
        context, _ = await self.context()
        page = await context.new_page()
        await page.goto(f"{path}#token={token or self.e2e.token(org, role)}")
        if signed_in:
            await expect(page.get_by_role("banner")).to_contain_text(org)
        return page

    def recorder(self, page: Page) -> Recorder:
        for context, recorder in self.contexts:
            if page.context == context:
                return recorder
        raise KeyError("page not opened through this UI")

    async def settle(self) -> None:
        for _, recorder in self.contexts:
            await recorder.settle()

    async def assert_nowhere(self, secret: str) -> None:
        """`secret` is in no DOM, browser storage, console message, URL or response body."""
        await self.settle()
        found: list[str] = []
        for context, recorder in self.contexts:
            for page in context.pages:
                if secret in await page.content():
                    found.append(f"DOM of {page.url}")
                storage = await page.evaluate(
                    """() => JSON.stringify([
                        Object.entries(localStorage), Object.entries(sessionStorage),
                        document.cookie])"""
                )
                if secret in storage:
                    found.append(f"browser storage of {page.url}")
                if secret in page.url:
                    found.append("address bar")
            cookies = json.dumps(await context.cookies())
            if secret in cookies:
                found.append("cookies")
            found += [f"console: {m[:80]}" for m in recorder.console if secret in m]
            found += [f"URL {u[:120]}" for u in recorder.urls if secret in u]
            found += [f"response body of {u}" for u, b in recorder.bodies if secret.encode() in b]
        assert found == [], f"the key was seen in: {found}"

    async def finish(self, screenshots: Path) -> None:
        screenshots.mkdir(parents=True, exist_ok=True)
        shot = 0
        for context, recorder in self.contexts:
            for page in context.pages:
                shot += 1
                suffix = "" if shot == 1 else f"-{shot}"
                try:
                    await page.screenshot(path=str(screenshots / f"{self.name}{suffix}.png"))
                except Exception as exc:  # a crashed page must not hide the test's own result
                    print(f"screenshot of {page.url} failed: {exc!r}")
            await recorder.settle()
            self.e2e.seen_bodies.extend(body for _, body in recorder.bodies)
            await context.close()
        self.contexts.clear()


async def quiet(page: Page, timeout_ms: float = 5_000) -> None:
    """Wait until the page has had no network traffic for 0.5 s (at most `timeout_ms`)."""
    with contextlib.suppress(PlaywrightTimeoutError):
        await page.wait_for_load_state("networkidle", timeout=timeout_ms)


async def axe(page: Page) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations of the page as it is now.

    The UI's CSP allows no inline script, so axe-core is evaluated, not added as a tag.
    """
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await window.axe.run(document, {resultTypes: ['violations']});
            return result.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.map(n => n.target.join(' ') + ' :: '
                                               + n.failureSummary).slice(0, 5)}));
        }"""
    )
    return violations


# ---------------------------------------------------------------- locators


def row(page: Page | Locator, text: str) -> Locator:
    """The table row (or list item) showing `text`."""
    return page.locator("tr, li").filter(has_text=text)


def data_rows(table: Locator) -> Locator:
    """The rows of `table` that hold cells (not the header row)."""
    return table.get_by_role("row").filter(has=table.page.get_by_role("cell"))


def keys_table(page: Page) -> Locator:
    return page.get_by_role("table", name="Provider keys")


NO_MODEL = (
    "No AI provider is assigned to this workspace. An OWNER can assign one in "
    "Settings › Workspaces › Edit."
)


async def nav_to(page: Page, link: str) -> None:
    """Follow a link of the sidebar ("Workspaces", "Settings"): no reload."""
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name=link, exact=True).click()


def model_select(page: Page) -> Locator:
    return page.get_by_role("region", name="Agent node").get_by_role(
        "combobox", name="Model", exact=True
    )


async def models_shown(page: Page, workspace: str, count: int) -> set[str]:
    """Opens `workspace` through the app's own links and reads its "Model" options, once
    `count` of them are shown (0: the no-provider text is shown instead)."""
    await nav_to(page, "Workspaces")
    await page.get_by_role("link", name=workspace, exact=True).click()
    await expect(page.get_by_role("heading", name=workspace, exact=True)).to_be_visible()
    return await current_models(page, count)


async def current_models(page: Page, count: int) -> set[str]:
    agent = page.get_by_role("region", name="Agent node")
    await expect(agent).to_be_visible()
    if count == 0:
        await expect(agent.get_by_text(NO_MODEL)).to_be_visible()
        await expect(agent.locator("option:not([value=''])")).to_have_count(0)
        return set()
    options = model_select(page).locator("option:not([value=''])")
    await expect(options).to_have_count(count)
    values: list[str] = await options.evaluate_all("os => os.map(o => o.value)")
    assert len(values) == len(set(values)), values
    return set(values)


async def tab_until_focused(
    page: Page, target: Locator, *, shift: bool = False, most: int = 40
) -> int:
    """Press Tab (or Shift+Tab) until `target` has the focus; how many presses it took."""
    for presses in range(1, most + 1):
        await page.keyboard.press("Shift+Tab" if shift else "Tab")
        if await target.evaluate("el => el === document.activeElement"):
            return presses
    raise AssertionError(f"{target} not reached with {most} presses of Tab")


# ---------------------------------------------------------------- API shortcuts


async def run(
    client: httpx.AsyncClient, workspace_id: str, model: str, prompt: str | None = None
) -> dict[str, Any]:
    """A test run through the gateway, waited for (polled when it answers 202)."""
    body = {
        "model": model,
        "input": {
            "messages": [{"role": "user", "content": prompt or f"Hello {uuid.uuid4().hex}"}],
            "max_tokens": 64,
        },
        "wait_seconds": 30,
    }
    response = await client.post(f"/workspaces/{workspace_id}/executions", json=body)
    assert response.status_code in (200, 202), response.text
    execution: dict[str, Any] = response.json()
    if response.status_code == 202 or execution["status"] == "queued":
        execution_id = execution["execution_id"]

        async def done() -> dict[str, Any] | None:
            polled = await client.get(f"/executions/{execution_id}")
            result: dict[str, Any] = polled.json()
            return result if polled.status_code == 200 and result["status"] != "queued" else None

        execution = await wait_for(done, timeout=90, interval=0.2)
    return execution


async def catalog_models(client: httpx.AsyncClient, provider: str) -> list[str]:
    providers = (await client.get("/catalog")).json()["providers"]
    return [m["id"] for p in providers if p["id"] == provider for m in p["models"]]


def now() -> float:
    return time.time()
