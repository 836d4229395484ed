"""Daily rollups against the real FerretDB: counted once, read instead of the records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shared.contracts import ExecutionResult
from tests.workspace.support import result_event
from workspace.app import run_maintenance
from workspace.service import Ledger, SharedCatalog
from workspace.settings import WorkspaceSettings
from workspace.store import MongoLedgerStore

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


@pytest.fixture
async def client(mongo_url: str, db_name: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    c: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    yield c
    await c.drop_database(db_name)
    await c.close()


@pytest.fixture
async def store(client: AsyncMongoClient[dict[str, Any]], db_name: str) -> MongoLedgerStore:
    s = MongoLedgerStore(client, db_name)
    await s.open()
    return s


def ledger_over(store: MongoLedgerStore) -> Ledger:
    return Ledger(
        store=store,
        catalog=SharedCatalog(),
        output_retention=timedelta(days=7),
        clock=lambda: NOW,
    )


def result(execution_id: str, at: datetime, org: str = "org-a", **kw: Any) -> ExecutionResult:
    return ExecutionResult.model_validate(result_event(execution_id, org, occurred_at=at, **kw))


DAY1 = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)


async def record_sample(ledger: Ledger) -> None:
    await ledger.record_results(
        [
            result("e1", DAY1, cost=0.5),
            result("e1", DAY1, cost=0.5),  # redelivered in the same batch
            result("e2", DAY1, status="failed", cost=None, input_tokens=3, output_tokens=0),
            result("e3", DAY2, key_id="key-2", model="gpt-4o", cost=0.25),
            result("b1", DAY2, org="org-b", cost=9.0),
        ]
    )
    # Redelivered results of another batch count nothing.
    await ledger.record_results([result("e1", DAY1, cost=0.5), result("e3", DAY2, cost=0.25)])


async def test_each_finished_execution_counts_once_in_its_days_rollup(
    store: MongoLedgerStore,
) -> None:
    await record_sample(ledger_over(store))
    rows = await store.daily_between(
        org_id="org-a", first_day=date(2026, 11, 1), end_day=date(2026, 12, 1), by_day=True
    )
    got = sorted(
        (
            r.day,
            r.key_id,
            r.workspace_id,
            r.provider,
            r.model,
            r.executions,
            r.succeeded,
            r.failed,
            r.input_tokens,
            r.output_tokens,
            round(r.cost_usd, 9),
            r.priced,
        )
        for r in rows
    )
    assert got == [
        (
            date(2026, 11, 18),
            "key-1",
            "ws-1",
            "anthropic",
            "claude-sonnet-4-6",
            2,
            1,
            1,
            13,
            5,
            0.5,
            1,
        ),
        (date(2026, 11, 19), "key-2", "ws-1", "openai", "gpt-4o", 1, 1, 0, 10, 5, 0.25, 1),
    ]
    # The month's document agrees (what /plan reads).
    month = await store.daily_between(
        org_id="org-a", first_day=date(2026, 11, 1), end_day=date(2026, 12, 1), by_day=False
    )
    assert sorted((r.day, r.executions) for r in month) == [
        (date(2026, 11, 1), 1),
        (date(2026, 11, 1), 2),
    ]


async def test_plan_and_usage_answer_from_rollups_not_from_the_records(
    store: MongoLedgerStore,
) -> None:
    ledger = ledger_over(store)
    await record_sample(ledger)
    # The records go (only the rollups can answer now): whole days never read records.
    await store.finished.delete_many({})
    totals = await ledger.month_totals("org-a")
    assert (totals.executions, totals.cost_usd) == (3, 0.75)
    rows = await ledger.usage("org-a", "key", since=datetime(2026, 11, 1, tzinfo=UTC))
    assert [(r.group, r.executions, r.cost_usd) for r in rows] == [
        ("key-1", 2, 0.5),
        ("key-2", 1, 0.25),
    ]
    daily = await ledger.usage(
        "org-a", "model", since=datetime(2026, 11, 1, tzinfo=UTC), interval="day"
    )
    assert [(r.day, r.group, r.executions, r.input_tokens) for r in daily] == [
        (date(2026, 11, 18), "claude-sonnet-4-6", 2, 13),
        (date(2026, 11, 19), "gpt-4o", 1, 10),
    ]
    assert (await ledger.month_totals("org-b")).executions == 1


async def test_usage_windows_that_cut_a_day_count_only_that_part(
    store: MongoLedgerStore,
) -> None:
    ledger = ledger_over(store)
    await ledger.record_results(
        [
            result("m1", DAY1 - timedelta(hours=8), cost=1.0),  # 01:00 on day 1
            result("m2", DAY1, cost=2.0),  # 09:00
            result("m3", DAY1 + timedelta(hours=10), cost=4.0),  # 19:00
            result("m4", DAY2, cost=8.0),  # 22:00 on day 2
        ]
    )

    async def cost(since: datetime | None, until: datetime | None) -> float | None:
        rows = await ledger.usage("org-a", "key", since=since, until=until)
        return sum(r.cost_usd or 0 for r in rows) if rows else None

    assert await cost(DAY1, None) == 14.0  # from 09:00 on day 1
    assert await cost(None, DAY1 + timedelta(hours=1)) == 3.0  # until 10:00 on day 1
    assert await cost(DAY1, DAY1 + timedelta(hours=1)) == 2.0  # within one day
    assert await cost(DAY1 + timedelta(hours=1), DAY2 + timedelta(hours=1)) == 12.0
    assert await cost(None, None) == 15.0
    assert await cost(DAY2 + timedelta(hours=1), None) is None


async def test_records_from_before_rollups_are_backfilled_once(
    client: AsyncMongoClient[dict[str, Any]], db_name: str
) -> None:
    # Written by a version without rollups: no rollup marker, no rollups.
    old = [
        {
            "_id": f"org-a/old{i}",
            "execution_id": f"old{i}",
            "org_id": "org-a",
            "workspace_id": "ws-1",
            "status": "succeeded" if i else "failed",
            "model": "claude-sonnet-4-6",
            "provider": "anthropic",
            "key_id": "key-1",
            "input_tokens": 10,
            "output_tokens": 5,
            "cost_usd": 0.25,
            "finished_at": DAY1,
        }
        for i in range(3)
    ]
    await client[db_name]["ledger_finished"].insert_many(old)
    for _ in range(2):  # every replica opens; the backfill counts each old record once
        reopened = MongoLedgerStore(client, db_name)
        await reopened.open()
    await ledger_over(reopened).record_results([result("new1", DAY2, cost=0.5)])
    totals = await ledger_over(reopened).month_totals("org-a")
    assert (totals.executions, totals.cost_usd) == (4, 1.25)
    # A forced re-run (the documented command) changes nothing either.
    assert await reopened.backfill_rollups() == 3
    rows = await ledger_over(reopened).usage(
        "org-a", "workspace", since=datetime(2026, 11, 1, tzinfo=UTC), interval="day"
    )
    assert [(r.day, r.executions, r.cost_usd) for r in rows] == [
        (date(2026, 11, 18), 3, 0.75),
        (date(2026, 11, 19), 1, 0.5),
    ]


async def test_prune_command_drops_only_expired_outputs_and_keeps_the_numbers(
    mongo_url: str, db_name: str, store: MongoLedgerStore
) -> None:
    ledger = ledger_over(store)
    await ledger.record_results([result("p1", DAY1, cost=0.5), result("p2", DAY2, cost=0.25)])
    settings = WorkspaceSettings(mongodb_url=mongo_url, workspace_db=db_name)
    # A fake clock: a day after p1's output expired (7 days after DAY1), before p2's did.
    later = DAY1 + timedelta(days=8)
    assert await run_maintenance(settings, "prune", now=later) == 1
    assert await run_maintenance(settings, "prune", now=later) == 0
    p1, p2 = await ledger.execution("org-a", "p1"), await ledger.execution("org-a", "p2")
    assert (p1.output_text, p1.input_tokens, p1.cost_usd) == (None, 10, 0.5)
    assert p2.output_text == "Hi."
    totals = await ledger.month_totals("org-a")
    assert (totals.executions, totals.cost_usd) == (2, 0.75)
    assert await run_maintenance(settings, "backfill-rollups") == 0


async def test_concurrent_writes_to_the_same_rollup_all_count(store: MongoLedgerStore) -> None:
    # FerretDB's $inc is a read-modify-write: concurrent ones lose updates unless serialized.
    ledger = ledger_over(store)
    for round_ in range(5):
        batches = [[result(f"c{round_}-{b}", DAY1, cost=0.5)] for b in range(40)]
        await asyncio.gather(*(ledger.record_results(batch) for batch in batches))
    totals = await ledger.month_totals("org-a")
    assert (totals.executions, totals.cost_usd) == (200, 100.0)
