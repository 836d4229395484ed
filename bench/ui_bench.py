"""The Settings UI: bundle size and time until the AI Providers tab is usable.

(a) gzipped size (level 9) of each JS and CSS file of services/web/dist, and their total
    (target ≤ 250 KB);
(b) time from navigation to the AI Providers tab being usable — the "Add Provider" button
    enabled and the "Provider keys" table showing the org's keys — in Debian's Chromium
    driven by Playwright on loopback, against the stack as `make dev` runs it (gateway,
    keyvault, workspace in their own processes; FerretDB, Kafka). `--runs` cold loads (a
    fresh browser context each: no cache, no storage) and as many warm reloads
    (target ≤ 1 s).

    uv run --frozen --no-sync python bench/ui_bench.py --out bench/results/ui_bench.md
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.e2e.browser.support import CHROMIUM, launch_args  # noqa: E402
from tests.support.e2e import load_stack_module, write_report  # noqa: E402

DIST = ROOT / "services" / "web" / "dist"
JWT_SECRET = "bench-ui-jwt-secret-0123456789abcdef0123"
PORTS = {"gateway": 38080, "keyvault": 38081, "workspace": 38082, "agent-runner": 38083}
BUDGET_KB = 250.0
TARGET_MS = 1000.0
KEYS = (("anthropic", "Production Anthropic Key"), ("openai", "OpenAI dev"), ("google", "Gemini"))


def token(org: str, role: str = "OWNER") -> str:
    import jwt

    claims = {"sub": f"bench-{role}", "org_id": org, "role": role, "exp": int(time.time()) + 3600}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def bundle_sizes(dist: Path) -> list[tuple[str, int, int]]:
    """(file, bytes, gzipped bytes) of every .js and .css file under `dist`."""
    rows = []
    for path in sorted(dist.rglob("*")):
        if path.suffix in (".js", ".css") and path.is_file():
            raw = path.read_bytes()
            rows.append(
                (str(path.relative_to(dist)), len(raw), len(gzip.compress(raw, compresslevel=9)))
            )
    return rows


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _seed(gateway: str) -> str:
    import httpx

    org = f"org-bench{secrets.token_hex(4)}"
    headers = {"Authorization": f"Bearer {token(org)}"}
    async with httpx.AsyncClient(base_url=f"{gateway}/api/v1", headers=headers) as client:
        ids = []
        prefixes = {"anthropic": "sk-ant-api03-", "openai": "sk-proj-", "google": "AIza"}
        for provider, name in KEYS:
            body = {
                "provider": provider,
                "name": name,
                "api_key": prefixes[provider] + secrets.token_hex(20),
            }
            response = await client.post("/ai-providers", json=body)
            response.raise_for_status()
            ids.append(response.json()["id"])
        ws = (await client.post("/workspaces", json={"name": "Bench"})).json()
        await client.patch(f"/workspaces/{ws['id']}", json={"ai_provider_ids": ids[:2]})
    return org


async def _time_to_usable(gateway: str, org: str, runs: int) -> dict[str, list[float]]:
    from playwright.async_api import Page, async_playwright, expect

    url = f"{gateway}/settings/ai-providers#token={token(org)}"

    async def usable(page: Page) -> None:
        await expect(page.get_by_role("button", name="Add Provider", exact=True)).to_be_enabled()
        table = page.get_by_role("table", name="Provider keys")
        for _, name in KEYS:
            await expect(table.get_by_text(name, exact=True)).to_be_visible()

    timings: dict[str, list[float]] = {"cold": [], "warm": []}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=launch_args())
        try:
            for run in range(runs + 1):  # the first run warms the server side and is dropped
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                page = await context.new_page()
                started = time.perf_counter()
                await page.goto(url, wait_until="commit")
                await usable(page)
                cold = (time.perf_counter() - started) * 1000
                started = time.perf_counter()
                await page.reload(wait_until="commit")
                await usable(page)
                warm = (time.perf_counter() - started) * 1000
                if run:
                    timings["cold"].append(cold)
                    timings["warm"].append(warm)
                await context.close()
        finally:
            await browser.close()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench/results/ui_bench.md")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    index = DIST / "index.html"
    if not index.is_file():
        print(f"{index} is missing: build the UI first (deploy/local/web.sh)", file=sys.stderr)
        return 1
    sizes = bundle_sizes(DIST)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongo = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    tag = secrets.token_hex(4)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MONGODB_URL": mongo,
        "KAFKA_TOPIC_SUFFIX": f".uibench{tag}",
        "RUNNER_GROUP_ID": f"agent-runner.uibench{tag}",  # no rebalances with other stacks' runners
        "KEYVAULT_SPEND_GROUP": f"keyvault-spend.uibench{tag}",
        "KEYVAULT_DB": f"uibench_{tag}_keyvault",
        "WORKSPACE_DB": f"uibench_{tag}_workspace",
        "RUNNER_DB": f"uibench_{tag}_runner",
        "GATEWAY_JWT_SECRET": JWT_SECRET,
        "KEYVAULT_KEYRING_FILE": str(ROOT / ".local" / "keyvault" / f"uibench-{tag}-keyring"),
        "GATEWAY_WEB_DIR": str(DIST),
        "LOG_LEVEL": "WARNING",
    }
    stack = load_stack_module().Stack(env=env, prefix="uibench-", ports=dict(PORTS))
    stack.start(timeout=180)
    gateway = f"http://127.0.0.1:{PORTS['gateway']}"
    try:
        org = asyncio.run(_seed(gateway))
        timings = asyncio.run(_time_to_usable(gateway, org, args.runs))
    finally:
        stack.stop()

    total_raw = sum(raw for _, raw, _ in sizes)
    total_gz = sum(gz for _, _, gz in sizes)
    lines = [
        "## UI: bundle size and time to a usable screen",
        "",
        "Bundle: every JS and CSS file of `services/web/dist`, gzip level 9 "
        f"(target ≤ {BUDGET_KB:.0f} KB in total).",
        "",
        "| file | bytes | gzipped KB |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {raw} | {gz / 1024:.1f} |" for name, raw, gz in sizes]
    verdict = "within" if total_gz / 1024 <= BUDGET_KB else "OVER"
    lines += [
        f"| **total** | {total_raw} | **{total_gz / 1024:.1f}** ({verdict} the budget) |",
        "",
        'Time from navigation to the AI Providers tab being usable ("Add Provider" enabled, '
        f'the {len(KEYS)} keys shown in "Provider keys"): Debian Chromium '
        "(headless, Playwright) on loopback, the gateway serving the built UI and the API; "
        f"{args.runs} runs after one dropped warm-up; cold = fresh browser context (no cache), "
        f"warm = reload of the same page (target ≤ {TARGET_MS:.0f} ms); {os.cpu_count()} cores "
        "shared by the browser, the services, FerretDB and Kafka.",
        "",
        "| load | runs | p50 ms | p90 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for label, values in timings.items():
        lines.append(
            f"| {label} | {len(values)} | {statistics.median(values):.0f} | "
            f"{_percentile(values, 0.9):.0f} | {max(values):.0f} |"
        )
    write_report(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
