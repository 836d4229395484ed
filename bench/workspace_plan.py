"""Benchmark: `/plan` and `/usage` over 100,000 ledger records (issue 12 fix 4, issue 16 §6).

Loads N finished executions of one org (spread over the last 40 days, 5 keys x 8 workspaces
x 4 models) into a fresh FerretDB database through the ledger's own write path (records plus
daily rollups), then measures the workspace service's `/plan` and `/usage` over HTTP. For
comparison it also times reading the month's records one by one, which is what `/plan`
did before rollups. Writes a small Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from shared.contracts import ExecutionResult, OrgPlanChanged, WorkspaceAssignmentsChanged
from shared.settings import DEV_SERVICE_TOKENS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.servers import serve
from workspace.app import create_app
from workspace.domain import month_start, next_month
from workspace.service import Ledger, SharedCatalog
from workspace.settings import WorkspaceSettings
from workspace.store import MongoLedgerStore

MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5", "gpt-4o", "gpt-4o-mini")


class NullPublisher:
    """The bench publishes no state: it only reads usage."""

    async def publish_assignments(self, event: WorkspaceAssignmentsChanged) -> None:
        return None

    async def publish_plan(self, event: OrgPlanChanged) -> None:
        return None


def result(org: str, i: int, now: datetime, n: int) -> ExecutionResult:
    at = now - timedelta(seconds=(i * 40 * 86_400) // n)  # spread over 40 days, newest first
    model = MODELS[i % len(MODELS)]
    ok = i % 10 != 0
    return ExecutionResult.model_validate(
        {
            "execution_id": f"e{i}",
            "org_id": org,
            "workspace_id": f"ws-{i % 8}",
            "status": "succeeded" if ok else "failed",
            "model": model,
            "provider": "anthropic" if model.startswith("claude") else "openai",
            "key_id": f"key-{i % 5}",
            "output": {"text": "ok", "finish_reason": "end_turn"} if ok else None,
            "usage": {"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.0003},
            "error": None
            if ok
            else {"code": "provider_unavailable", "message": "503", "retryable": True},
            "attempts": 1,
            "duration_ms": 900,
            "occurred_at": at.isoformat(),
        }
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(http: httpx.AsyncClient, path: str, params: dict[str, Any], k: int) -> list[float]:
    lat = []
    for _ in range(k):
        t = time.perf_counter()
        r = await http.get(path, params=params)
        lat.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return lat


async def run(n: int, requests: int, before_max: int) -> str:
    unique = secrets.token_hex(4)
    settings = WorkspaceSettings(
        mongodb_url=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017"),
        workspace_db=f"bench_plan_{unique}",
    )
    org = f"org-bench-{unique}"
    now = datetime.now(UTC)
    rows: list[tuple[str, str]] = []
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url.get_secret_value(), tz_aware=True
    )
    try:
        store = MongoLedgerStore(client, settings.workspace_db)
        await store.open()
        ledger = Ledger(store=store, catalog=SharedCatalog(), output_retention=timedelta(days=7))
        started = time.perf_counter()
        for first in range(0, n, 1000):
            batch = [result(org, i, now, n) for i in range(first, min(n, first + 1000))]
            await ledger.record_results(batch)
        load_s = time.perf_counter() - started
        rollups = await store.rollups.collection.count_documents({"org_id": org})
        rows.append(("ledger records loaded (one org, 40 days)", f"{n:,}"))
        rows.append(("load rate incl. rollups (records/s, batches of 1,000)", f"{n / load_s:,.0f}"))
        rows.append(("rollup documents (day + month)", f"{rollups:,}"))

        t = time.perf_counter()
        await MongoLedgerStore(client, settings.workspace_db).open()  # what every start does
        rows.append(
            (
                "a service start's ledger open() over them, ms",
                f"{(time.perf_counter() - t) * 1000:,.0f}",
            )
        )

        start = month_start(now)
        if n <= before_max:
            t = time.perf_counter()
            month = [
                f
                async for f in store.finished_between(
                    org_id=org, since=start, until=next_month(start)
                )
            ]
            rows.append(
                (
                    f"before: reading the month's {len(month):,} records (what /plan did), ms",
                    f"{(time.perf_counter() - t) * 1000:,.0f}",
                )
            )

        headers = {"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
        app = create_app(settings, publisher=NullPublisher(), kafka=False)
        async with (
            serve(app) as url,
            httpx.AsyncClient(base_url=url, headers=headers, timeout=600) as http,
        ):
            plan = f"/internal/v1/orgs/{org}/plan"
            usage = f"/internal/v1/orgs/{org}/usage"
            await timed(http, plan, {}, 5)  # warm up (creates the org)
            body = (await http.get(plan)).json()["usage"]
            rows.append(("/plan executions_this_month", f"{body['executions_this_month']:,}"))
            cases: list[tuple[str, str, dict[str, Any]]] = [
                ("GET /plan", plan, {}),
                ("GET /usage group_by=key, this month", usage, {"since": start.isoformat()}),
                (
                    "GET /usage group_by=model interval=day, 30 days (the chart)",
                    usage,
                    {
                        "group_by": "model",
                        "interval": "day",
                        "since": (now - timedelta(days=29)).date().isoformat() + "T00:00:00Z",
                    },
                ),
                (
                    "GET /usage group_by=workspace, since 36 h ago (a part-day from records)",
                    usage,
                    {"group_by": "workspace", "since": (now - timedelta(hours=36)).isoformat()},
                ),
            ]
            for label, path, params in cases:
                # A part-day reads records: a scan of every record on FerretDB (MongoDB serves
                # it from the (org_id, finished_at) index); fewer calls keep the run short.
                k = min(requests, 10) if "part-day" in label else requests
                lat = await timed(http, path, params, k)
                rows.append(
                    (
                        f"{label}: p50 / p99 ms ({k} calls)",
                        f"{statistics.median(lat):.1f} / {pct(lat, 0.99):.1f}",
                    )
                )
    finally:
        await client.drop_database(settings.workspace_db)
        await client.close()
    table = [
        "# workspace /plan and /usage over 100,000 ledger records",
        "",
        "Target: `/plan` p50 ≤ 50 ms at 100,000 records (issue 12 fix 4).",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    table += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(table) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/workspace_plan.md"))
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--before-max",
        type=int,
        default=20_000,
        help="time the old read of every record only up to this many (minutes at 100,000)",
    )
    args = parser.parse_args()
    report = asyncio.run(run(args.n, args.requests, args.before_max))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
