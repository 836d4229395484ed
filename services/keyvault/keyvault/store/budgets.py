"""Monthly spend counters, holds (in-flight reservations) and alerts in keyvault's database.

Every decision is one single-document conditional write (no $expr, no transactions): a hold
increments a counter only if `used <= budget - estimate` still matches the document. MongoDB
applies such a findAndModify atomically. FerretDB 1.x on SQLite does not under concurrency
(measured: 60 concurrent conditional $inc on one document let 11–16 through where 10 fit,
the counter losing the extra increments), so every write to a counter also goes through an
in-process lock striped by counter id: one keyvault process is exact on both stores; several
keyvault replicas rely on the store's own atomicity (MongoDB in production).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from bson.int64 import Int64
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from pymongo.monitoring import CommandListener

from keyvault.domain import StoreUnavailableError
from keyvault.domain.budgets import Charge, CounterMove, Hold, counter_id
from shared.contracts import OrgAlertRaised, utcnow
from shared.mongo import find_by_ids, insert_new, is_unique_violation, retrying
from shared.retry import Backoff

Doc = dict[str, Any]
X = TypeVar("X")
LOCK_STRIPES = 256
# Amounts are integer nano-dollars stored as int64 (`Int64`): FerretDB 1.x keeps a small int
# as int32 and its $inc then wraps past 2^31 nanos ($2.15) instead of widening.


def _unavailable() -> StoreUnavailableError:
    return StoreUnavailableError("keyvault's store is temporarily unavailable; retry shortly")


def _alert(doc: Doc) -> OrgAlertRaised:
    body = {k: v for k, v in doc.items() if k not in ("_id", "published")}
    return OrgAlertRaised.model_validate(body)


class MongoBudgetStore:
    """Counters `budget_counters`, holds `budget_holds`, settled markers `budget_settled`,
    settled offsets per stream `budget_settled_offsets`, alerts `alerts`."""

    def __init__(
        self,
        url: str,
        db_name: str,
        *,
        retries: int = 5,
        listeners: Sequence[CommandListener] = (),
    ) -> None:
        # `listeners`: pymongo command listeners (tests and benchmarks count the commands).
        self._client: AsyncMongoClient[Doc] = AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=5000, event_listeners=list(listeners)
        )
        self._backoff = Backoff(
            attempts=retries + 1, first_pause_s=0.02, max_pause_s=0.3, jitter=True
        )
        self._db: AsyncDatabase[Doc] = self._client[db_name]
        self._counters = self._db["budget_counters"]
        self._holds = self._db["budget_holds"]
        self._settled = self._db["budget_settled"]
        self._offsets = self._db["budget_settled_offsets"]
        self._alerts = self._db["alerts"]
        self._stripes = [asyncio.Lock() for _ in range(LOCK_STRIPES)]

    def _lock(self, cid: str) -> asyncio.Lock:
        """The lock of a counter: its writes in this process never run concurrently."""
        return self._stripes[zlib.crc32(cid.encode()) % LOCK_STRIPES]

    async def _inc(self, cid: str, amount: int) -> None:
        async with self._lock(cid):
            await self._counters.update_one({"_id": cid}, {"$inc": {"used": Int64(amount)}})

    async def open(self) -> None:
        await self._holds.create_index(
            [("org_id", ASCENDING), ("execution_id", ASCENDING)], name="org_exec"
        )
        await self._holds.create_index(
            [("state", ASCENDING), ("expires_at", ASCENDING)], name="state_expiry"
        )
        await self._alerts.create_index(
            [("org_id", ASCENDING), ("at", DESCENDING), ("alert_id", DESCENDING)], name="org_at"
        )
        await self._alerts.create_index([("published", ASCENDING)], name="published")
        await self._settled.create_index([("at", ASCENDING)], name="at")

    async def close(self) -> None:
        await self._client.close()

    async def _retrying(self, op: Callable[[], Awaitable[X]], what: str) -> X:
        return await retrying(op, what=what, backoff=self._backoff, unavailable=_unavailable)

    # --- holds -------------------------------------------------------------------------

    async def _take(self, cid: str, *, budget: int, amount: int) -> bool:
        """used += amount on counter `cid` if used + amount <= budget (one atomic write)."""
        async with self._lock(cid):
            return await self._take_locked(cid, budget=budget, amount=amount)

    async def _take_locked(self, cid: str, *, budget: int, amount: int) -> bool:
        for _ in range(2):
            doc = await self._counters.find_one_and_update(
                {"_id": cid, "used": {"$lte": Int64(budget - amount)}},
                {"$inc": {"used": Int64(amount)}},
            )
            if doc is not None:
                return True
            if await self._counters.find_one({"_id": cid}, {"_id": 1}) is not None:
                return False
            org, scope, scope_id, month = cid.split("|", 3)
            try:
                await self._counters.insert_one(
                    {
                        "_id": cid,
                        "org_id": org,
                        "scope": scope,
                        "scope_id": scope_id,
                        "month": month,
                        "used": Int64(0),
                        "spent": Int64(0),
                    }
                )
            except DuplicateKeyError:
                pass  # a concurrent hold created it: try the conditional increment again
            except Exception as exc:
                if not is_unique_violation(exc):
                    raise
        return False

    async def hold(self, *, hold: Hold, budgets: list[int]) -> int | None:
        # A budget already without room refuses on one read, with no write (the conditional
        # increment below stays the authority for those that seem to fit).
        counters = await find_by_ids(self._counters, hold.counters, {"used": 1})
        found = {cid: int(d.get("used", 0)) for cid, d in counters.items()}
        for i, (cid, budget) in enumerate(zip(hold.counters, budgets, strict=True)):
            if found.get(cid, 0) + hold.estimate_nanos > budget:
                if await self._holds.find_one({"_id": hold.id}, {"_id": 1}) is None:
                    return i
                return None  # a redelivery of a held execution: already covered
        # The hold is written first, so a crash after any increment leaves a record the sweep
        # releases; a hold already there is a redelivery of the same execution and key.
        doc: Doc = {
            "_id": hold.id,
            "org_id": hold.org_id,
            "execution_id": hold.execution_id,
            "key_id": hold.key_id,
            "workspace_id": hold.workspace_id,
            "month": hold.month,
            "estimate": Int64(hold.estimate_nanos),
            "counters": list(hold.counters),
            "state": "held",
            "expires_at": hold.expires_at,
        }
        try:
            await self._holds.insert_one(doc)
        except DuplicateKeyError:
            return None
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            return None
        taken: list[str] = []
        for i, (cid, budget) in enumerate(zip(hold.counters, budgets, strict=True)):
            if await self._take(cid, budget=budget, amount=hold.estimate_nanos):
                taken.append(cid)
                continue
            for done in taken:
                await self._inc(done, -hold.estimate_nanos)
            await self._holds.delete_one({"_id": hold.id})
            return i
        return None

    async def _release(self, doc: Doc) -> bool:
        """Remove a hold (once) and give its estimate back to its counters. Holds live only
        while in flight, so the collection stays as small as the executions in flight."""
        async with self._lock(doc["_id"]):
            gone = await self._holds.find_one_and_delete({"_id": doc["_id"]})
        if gone is None:
            return False
        for cid in gone["counters"]:
            await self._inc(cid, -int(gone["estimate"]))
        return True

    async def sweep(self, *, now: datetime) -> int:
        released = 0
        async for doc in self._holds.find({"state": "held", "expires_at": {"$lt": now}}).limit(
            1000
        ):
            released += await self._release(doc)
        return released

    # --- settlement ------------------------------------------------------------------

    async def settle(self, charges: list[Charge]) -> list[CounterMove]:
        if not charges:
            return []
        now = utcnow()
        ids = [f"{c.org_id}|{c.execution_id}" for c in charges]
        # Only a charge that may have been settled before is looked up: one exact read each
        # (the markers grow with every execution ever settled).
        maybe = [sid for c, sid in zip(charges, ids, strict=True) if c.may_be_settled]
        seen = set(await find_by_ids(self._settled, maybe, {"_id": 1})) if maybe else set()
        fresh: list[Doc] = []
        # The batch's costs added up per counter: one write per counter and batch, not one per
        # result (a burst of results otherwise kept FerretDB busy for a minute after it).
        totals: dict[str, tuple[Charge, str, str, int]] = {}
        for charge, sid in zip(charges, ids, strict=True):
            if sid in seen:
                continue
            seen.add(sid)
            fresh.append({"_id": sid, "at": now})
            if charge.cost_nanos <= 0:
                continue
            scopes: list[tuple[str, str]] = [("workspace", charge.workspace_id)]
            if charge.key_id:
                scopes.append(("key", charge.key_id))
            for scope, scope_id in scopes:
                cid = counter_id(charge.org_id, scope, scope_id, charge.month)  # type: ignore[arg-type]
                _, _, _, total = totals.get(cid, (charge, scope, scope_id, 0))
                totals[cid] = (charge, scope, scope_id, total + charge.cost_nanos)
        moves: list[CounterMove] = []
        for cid, (charge, scope, scope_id, amount) in totals.items():
            async with self._lock(cid):
                before = await self._counters.find_one_and_update(
                    {"_id": cid},
                    {
                        "$inc": {"used": Int64(amount), "spent": Int64(amount)},
                        "$setOnInsert": {
                            "org_id": charge.org_id,
                            "scope": scope,
                            "scope_id": scope_id,
                            "month": charge.month,
                        },
                    },
                    upsert=True,
                    return_document=ReturnDocument.BEFORE,
                )
            spent_before = int(before["spent"]) if before else 0
            moves.append(
                CounterMove(
                    counter_id=cid,
                    org_id=charge.org_id,
                    scope=scope,  # type: ignore[arg-type]
                    scope_id=scope_id,
                    month=charge.month,
                    spent_before_nanos=spent_before,
                    spent_after_nanos=spent_before + amount,
                )
            )
        # The cost is counted before the marker is written and before the holds go: a crash
        # in between counts a cost twice or a hold a little longer, never lets spend slip by.
        if fresh:
            await insert_new(
                self._settled,
                fresh,
                what="settled markers",
                backoff=self._backoff,
                unavailable=_unavailable,
            )
        pairs = [{"org_id": c.org_id, "execution_id": c.execution_id} for c in charges]
        async for doc in self._holds.find({"$or": pairs, "state": "held"}):
            await self._release(doc)
        return moves

    async def prune_settled(self, *, before: datetime) -> int:
        await self._settled.update_many({"at": {"$exists": False}}, {"$set": {"at": utcnow()}})
        deleted = await self._settled.delete_many({"at": {"$lt": before}})
        return int(deleted.deleted_count)

    async def settled_up_to(self, streams: list[str]) -> dict[str, int]:
        docs = await find_by_ids(self._offsets, streams, {"offset": 1})
        return {sid: int(d["offset"]) for sid, d in docs.items()}

    async def mark_settled_up_to(self, offsets: dict[str, int]) -> None:
        await asyncio.gather(
            *(
                self._offsets.update_one(
                    {"_id": sid}, {"$max": {"offset": Int64(offset)}}, upsert=True
                )
                for sid, offset in offsets.items()
            )
        )

    async def spent(self, counter_ids: list[str]) -> dict[str, int]:
        if not counter_ids:
            return {}
        docs = await find_by_ids(self._counters, counter_ids, {"spent": 1})
        return {cid: int(d.get("spent", 0)) for cid, d in docs.items()}

    async def used(self, counter_id: str) -> int:
        doc = await self._counters.find_one({"_id": counter_id}, {"used": 1})
        return int(doc["used"]) if doc else 0

    # --- alerts ----------------------------------------------------------------------

    async def add_alerts(self, alerts: list[OrgAlertRaised]) -> list[OrgAlertRaised]:
        new: list[OrgAlertRaised] = []
        for alert in alerts:
            doc = {"_id": alert.alert_id, "published": False, **alert.model_dump(mode="python")}
            doc["event_id"] = str(alert.event_id)
            try:
                await self._alerts.insert_one(doc)
            except DuplicateKeyError:
                continue
            except Exception as exc:
                if not is_unique_violation(exc):
                    raise
                continue
            new.append(alert)
        return new

    async def unpublished_alerts(self, *, limit: int) -> list[OrgAlertRaised]:
        return [_alert(d) async for d in self._alerts.find({"published": False}).limit(limit)]

    async def mark_alert_published(self, alert_id: str) -> None:
        await self._alerts.update_one({"_id": alert_id}, {"$set": {"published": True}})

    async def list_alerts(
        self, *, org_id: str, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[OrgAlertRaised]:
        query: Doc = {"org_id": org_id}
        if before is not None:
            at, last = before
            query["$or"] = [{"at": {"$lt": at}}, {"at": at, "alert_id": {"$lt": last}}]
        cursor = (
            self._alerts.find(query)
            .sort([("at", DESCENDING), ("alert_id", DESCENDING)])
            .limit(limit)
        )
        return [_alert(d) async for d in cursor]
