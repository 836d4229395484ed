"""Usage rollups of the ledger in MongoDB (FerretDB-compatible), read by `_id` only.

One document per (org, UTC day), `_id` `"<org>/<YYYY-MM-DD>"`, and one per (org, UTC month),
`_id` `"<org>/<YYYY-MM>"`. Each holds one entry per (key, workspace, provider, model) under a
short hash of those four: executions, succeeded, failed, input/output tokens, cost and
`priced` (how many had a cost). `/plan` is one month document; `/usage` reads whole months
and the days around them, each by `_id`.

Why by `_id` and serialized: FerretDB 1.x on SQLite answers only `_id` equality from an
index (any other filter scans the collection: ~3 s for 22,000 documents on the loaded CI
machine), and its `$inc` is a read-modify-write that loses updates under concurrency (500
concurrent `$inc` of one field landed as 308). So a process applies its rollup updates one
bulk write at a time (`_lock`). On MongoDB `$inc` is atomic and the lock costs little; on
FerretDB several workspace replicas writing the same org's rollups at the same instant can
still lose an increment (`python -m workspace backfill-rollups` does not repair that: the live
entries are never recomputed; see docs/ARCHITECTURE.md).

`live` entries are `$inc`remented with the records a write inserted (the ledger's
insert-if-new says which are new, so a redelivered result never counts twice). `backfill`
entries hold records from before rollups existed, written with `$set` from a full count, so
re-running the backfill rewrites the same numbers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared import mongo
from workspace.domain import DailyUsage

Doc = dict[str, Any]
Retrying = Callable[[Callable[[], Awaitable[Any]], str], Awaitable[Any]]

COUNTERS = (
    "executions",
    "succeeded",
    "failed",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "priced",
)
GROUP = ("key_id", "workspace_id", "provider", "model")


def _utc_day(moment: datetime) -> date:
    return (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).date()


def _month(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def day_id(org_id: str, day: date) -> str:
    return f"{org_id}/{day.isoformat()}"


def month_id(org_id: str, month: date) -> str:
    return f"{org_id}/{month.isoformat()[:7]}"


def _group_of(doc: Doc) -> tuple[str, Doc]:
    """The entry key (a hash: model names may hold "." or "$") and the group's fields."""
    fields = {f: doc.get(f) for f in GROUP}
    digest = hashlib.sha256(json.dumps(list(fields.values())).encode()).hexdigest()[:16]
    return f"g{digest}", fields


def add_up(records: Sequence[Doc]) -> dict[tuple[str, date, bool, str], Doc]:
    """Entries to add, per (org, day or month start, is_month, group hash), from records."""
    sums: dict[tuple[str, date, bool, str], Doc] = {}
    for rec in records:
        if rec.get("finished_at") is None:
            continue
        day = _utc_day(rec["finished_at"])
        gid, fields = _group_of(rec)
        cost = rec.get("cost_usd")
        for target in ((rec["org_id"], day, False, gid), (rec["org_id"], _month(day), True, gid)):
            entry = sums.setdefault(target, {**fields, **dict.fromkeys(COUNTERS, 0)})
            entry["executions"] += 1
            entry["succeeded"] += rec.get("status") == "succeeded"
            entry["failed"] += rec.get("status") == "failed"
            entry["input_tokens"] += int(rec.get("input_tokens") or 0)
            entry["output_tokens"] += int(rec.get("output_tokens") or 0)
            entry["cost_usd"] += float(cost or 0.0)
            entry["priced"] += cost is not None
    return sums


def _target(org_id: str, day: date, is_month: bool) -> tuple[str, Doc]:
    _id = month_id(org_id, day) if is_month else day_id(org_id, day)
    start = datetime.combine(day, time(), tzinfo=UTC)
    return _id, {"org_id": org_id, "day": start, "period": "month" if is_month else "day"}


def _rows(doc: Doc, day: date) -> list[DailyUsage]:
    rows = []
    for part in ("live", "backfill"):
        for entry in (doc.get(part) or {}).values():
            rows.append(
                DailyUsage(
                    day=day,
                    key_id=entry.get("key_id"),
                    workspace_id=entry["workspace_id"],
                    provider=entry.get("provider"),
                    model=entry["model"],
                    executions=int(entry.get("executions") or 0),
                    succeeded=int(entry.get("succeeded") or 0),
                    failed=int(entry.get("failed") or 0),
                    input_tokens=int(entry.get("input_tokens") or 0),
                    output_tokens=int(entry.get("output_tokens") or 0),
                    cost_usd=float(entry.get("cost_usd") or 0.0),
                    priced=int(entry.get("priced") or 0),
                )
            )
    return rows


class Rollups:
    """Daily and monthly usage of each org; see the module docstring."""

    def __init__(self, collection: AsyncCollection[Doc], retrying: Retrying) -> None:
        self.collection = collection
        self._retrying = retrying
        self._lock = asyncio.Lock()

    async def add(self, records: Sequence[Doc]) -> None:
        """Count newly inserted records (never the same record twice: callers pass only
        what their insert-if-new inserted). One update per day or month document."""
        updates: dict[str, tuple[Doc, Doc, Doc]] = {}
        for (org_id, day, is_month, gid), entry in add_up(records).items():
            _id, fields = _target(org_id, day, is_month)
            inc, labels, _ = updates.setdefault(_id, ({}, {}, fields))
            inc.update({f"live.{gid}.{c}": entry[c] for c in COUNTERS})
            labels.update({f"live.{gid}.{f}": entry[f] for f in GROUP})
        ops = [
            UpdateOne({"_id": _id}, {"$inc": inc, "$set": {**fields, **labels}}, upsert=True)
            for _id, (inc, labels, fields) in updates.items()
        ]
        await self._write(ops, "ledger rollups")

    async def set_backfill(self, sums: dict[tuple[str, date, bool, str], Doc]) -> None:
        """Write the backfill entries (absolute numbers: repeating it changes nothing)."""
        updates: dict[str, Doc] = {}
        for (org_id, day, is_month, gid), entry in sums.items():
            _id, fields = _target(org_id, day, is_month)
            updates.setdefault(_id, dict(fields))[f"backfill.{gid}"] = entry
        ops = [
            UpdateOne({"_id": _id}, {"$set": sets}, upsert=True) for _id, sets in updates.items()
        ]
        await self._write(ops, "rollup backfill")

    async def _write(self, ops: list[UpdateOne], what: str) -> None:
        if not ops:
            return

        async def write() -> None:
            try:
                await self.collection.bulk_write(ops, ordered=False)
            except BulkWriteError as exc:
                # Two replicas upserting a new document at once: one insert loses on the
                # unique _id; the document exists now, so that update alone goes again.
                errors = exc.details.get("writeErrors") or []
                if not errors or not all(mongo.is_duplicate_write_error(e) for e in errors):
                    raise
                await self.collection.bulk_write([ops[e["index"]] for e in errors], ordered=False)

        async with self._lock:  # FerretDB's $inc is not atomic: one write at a time
            await self._retrying(write, what)

    async def read(
        self, *, org_id: str, first_day: date, end_day: date, by_day: bool
    ) -> list[DailyUsage]:
        """Rollups of the days in [first_day, end_day): whole months from month documents
        unless `by_day`, the other days from day documents; all by `_id`."""
        months: list[date] = []
        month = _month(first_day)
        while month < end_day:
            months.append(month)
            month = _next_month(month)
        month_docs = await asyncio.gather(*(self._get(month_id(org_id, m)) for m in months))
        rows: list[DailyUsage] = []
        days: list[date] = []
        for m, doc in zip(months, month_docs, strict=True):
            if doc is None:
                continue  # nothing that month: none of its days either
            if not by_day and m >= first_day and _next_month(m) <= end_day:
                rows += _rows(doc, m)
                continue
            day = max(m, first_day)
            while day < min(_next_month(m), end_day):
                days.append(day)
                day += timedelta(days=1)
        day_docs = await asyncio.gather(*(self._get(day_id(org_id, d)) for d in days))
        for d, doc in zip(days, day_docs, strict=True):
            if doc is not None:
                rows += _rows(doc, d)
        return rows

    async def _get(self, _id: str) -> Doc | None:
        result: Doc | None = await self._retrying(
            lambda: self.collection.find_one({"_id": _id}), "rollups read"
        )
        return result


def merge(
    into: dict[tuple[str, date, bool, str], Doc], more: dict[tuple[str, date, bool, str], Doc]
) -> None:
    """Add `more` (from `add_up`) into `into`."""
    for target, entry in more.items():
        if target not in into:
            into[target] = dict(entry)
            continue
        for c in COUNTERS:
            into[target][c] += entry[c]


__all__ = ["Rollups", "add_up", "day_id", "merge", "month_id"]
