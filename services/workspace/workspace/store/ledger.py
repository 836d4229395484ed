"""The usage ledger in MongoDB (FerretDB-compatible): inserts only on the hot path.

Finished executions live in `ledger_finished` and queued ones in `ledger_queued`, both keyed
by org and execution id: execution ids are scoped by org, so `_id` is
`"<org_id>/<execution_id>"` (identifiers cannot contain "/"), and `org_id` and `execution_id`
are fields too. A write is one `insert_many(ordered=False)`; an id already there is a
duplicate and is ignored, so an execution counts once, the first result wins, and a queued
record can never overwrite a finished one. Unique `_id` inserts are atomic on FerretDB too,
unlike its conditional updates. Only the background output pruning updates records.

Usage rollups (`ledger_rollups`, see `workspace.store.rollups`): the records a write inserted
(never the duplicates: insert-if-new says which are new) are added to their org's day and
month documents, so a redelivered result never counts twice and `/plan` and `/usage` read
rollups, never every record. Records counted so carry `rollup: 1`. Records from before
rollups existed (no `rollup` field) are counted by `backfill_rollups()` (at `open()` until it
has completed once, or `python -m workspace backfill-rollups`) with `$set`, so running it
again rewrites the same numbers. A crash between a batch's insert and its rollup update
leaves that batch out of the rollups (the records stay).

Records written before ids were scoped by org (`_id` = the execution id, no `execution_id`
field) are moved to their new key by `rekey()`: copied (an insert, so running it twice or on two
replicas at once is harmless), then the old document deleted. History is kept; reads only ever
see one key shape. `open()` runs it until it has completed once (a marker in `ledger_meta`):
finding old-shape records is a field filter, which FerretDB answers with a scan of every
record, and a service start must not cost that on a large ledger. After a rolling upgrade
from a version that wrote the old shape, `python -m workspace rekey-ledger` (safe to repeat)
moves what the old replicas wrote until they stopped.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from shared import mongo
from shared.retry import Backoff
from workspace.domain import DailyUsage, ExecutionRecord, StoreUnavailableError, UsageFact
from workspace.store.rollups import Rollups, add_up, merge

log = logging.getLogger(__name__)

Doc = dict[str, Any]
T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Transient store errors (FerretDB's "database is locked", reconnects): 0.05 s, 0.1 s, ...
BACKOFF = Backoff(attempts=5, first_pause_s=0.05, max_pause_s=0.8)

_RECORD_FIELDS = tuple(ExecutionRecord.__dataclass_fields__)
_FACT_FIELDS = {
    "key_id": 1,
    "workspace_id": 1,
    "model": 1,
    "input_tokens": 1,
    "output_tokens": 1,
    "cost_usd": 1,
    "finished_at": 1,
}


BACKFILL_DONE = "rollups-backfill-v1"
REKEY_DONE = "ledger-rekey-v1"


def ledger_id(org_id: str, execution_id: str) -> str:
    """The `_id` of an execution's records: ids are scoped by org, so the org is part of it.
    Identifiers cannot contain "/" (shared.contracts.IDENTIFIER_PATTERN): unambiguous, and
    within one org `_id` sorts as the execution id does."""
    return f"{org_id}/{execution_id}"


def _record(doc: Doc) -> ExecutionRecord:
    values = {name: doc.get(name) for name in _RECORD_FIELDS if name != "execution_id"}
    # A record keyed the old way (written by an older replica mid-upgrade) has no field.
    execution_id = doc.get("execution_id") or doc["_id"]
    return ExecutionRecord(execution_id=execution_id, **values)  # type: ignore[arg-type]


_RECORD_FIELDS = tuple(f.name for f in fields(ExecutionRecord))


def _doc(record: ExecutionRecord) -> Doc:
    # Its fields are flat and immutable: read them directly (`dataclasses.asdict` deep-copies
    # each value: ~30 % of a profile of workspace under load).
    doc: Doc = {"_id": ledger_id(record.org_id, record.execution_id)}
    doc.update((k, v) for k in _RECORD_FIELDS if (v := getattr(record, k)) is not None)
    return doc


def _as_stored(doc: Doc) -> Doc:
    """`doc` as a read returns it: BSON keeps datetimes to the millisecond."""
    return {
        k: v.replace(microsecond=v.microsecond // 1000 * 1000) if isinstance(v, datetime) else v
        for k, v in doc.items()
    }


def _fact(doc: Doc) -> UsageFact:
    return UsageFact(
        key_id=doc.get("key_id"),
        workspace_id=doc["workspace_id"],
        model=doc["model"],
        input_tokens=int(doc.get("input_tokens") or 0),
        output_tokens=int(doc.get("output_tokens") or 0),
        cost_usd=doc.get("cost_usd"),
        finished_at=doc.get("finished_at"),
    )


def _newest_first(
    field: str, org_id: str, workspace_id: str, before: tuple[datetime, str] | None
) -> Doc:
    query: Doc = {"org_id": org_id, "workspace_id": workspace_id}
    if before is not None:
        at, last_id = before  # the cursor carries the execution id; within the org, the key
        query["$or"] = [
            {field: {"$lt": at}},
            {field: at, "_id": {"$lt": ledger_id(org_id, last_id)}},
        ]
    return query


async def retrying(op: Callable[[], Awaitable[T]], what: str) -> T:
    """`op` (safe to repeat) with the ledger's retries; past them, StoreUnavailableError."""
    return await mongo.retrying(op, what=what, backoff=BACKOFF, unavailable=StoreUnavailableError)


async def insert_new(collection: AsyncCollection[Doc], docs: Sequence[Doc], what: str) -> int:
    """Insert what is not there yet (see shared.mongo.insert_new); how many were new."""
    return await mongo.insert_new(
        collection, docs, what=what, backoff=BACKOFF, unavailable=StoreUnavailableError
    )


class MongoLedgerStore:
    """Finished and queued executions in two collections, each keyed by (org, execution id)."""

    def __init__(self, client: AsyncMongoClient[Doc], db_name: str) -> None:
        db = client[db_name]
        self.finished: AsyncCollection[Doc] = db["ledger_finished"]
        self.queued: AsyncCollection[Doc] = db["ledger_queued"]
        self.rollups = Rollups(db["ledger_rollups"], retrying)
        self.meta: AsyncCollection[Doc] = db["ledger_meta"]

    async def open(self) -> None:
        if not await self._done(REKEY_DONE):
            await self.rekey()
        await self.finished.create_index([("org_id", ASCENDING), ("finished_at", ASCENDING)])
        await self.finished.create_index([("output_expires_at", ASCENDING)])
        for collection, field in ((self.finished, "finished_at"), (self.queued, "requested_at")):
            await collection.create_index(
                [("org_id", ASCENDING), ("workspace_id", ASCENDING), (field, DESCENDING)]
            )
        if not await self._done(BACKFILL_DONE):
            await self.backfill_rollups()

    async def _done(self, step: str) -> bool:
        """Whether the one-off `step` has completed (its marker is in `ledger_meta`)."""
        marker = await retrying(
            functools.partial(self.meta.find_one, {"_id": step}), "ledger state read"
        )
        return marker is not None

    async def _mark_done(self, step: str, records: int) -> None:
        await retrying(
            functools.partial(
                self.meta.update_one,
                {"_id": step},
                {"$set": {"records": records, "at": datetime.now(UTC)}},
                upsert=True,
            ),
            "ledger state write",
        )

    async def rekey(self) -> int:
        """Move every record keyed the old way to its org-scoped key, then mark it done;
        how many moved (see the module's docstring)."""
        moved = 0
        for collection in (self.finished, self.queued):
            moved += await self._rekey(collection)
        await self._mark_done(REKEY_DONE, moved)
        return moved

    async def backfill_rollups(self, *, chunk: int = 5000) -> int:
        """Count the records written before rollups existed (no `rollup` field) into the
        rollups' `backfill` entries, with `$set`: running it again, on several replicas or
        after a crash, rewrites the same numbers. Returns how many records it counted."""
        sums: dict[tuple[str, date, bool, str], Doc] = {}
        counted = 0
        after = ""
        fields = dict.fromkeys(("org_id", "status", "provider", *_FACT_FIELDS), 1)
        while True:
            query = {"rollup": {"$exists": False}, "_id": {"$gt": after}}

            async def read(query: Doc = query) -> list[Doc]:
                cursor = self.finished.find(query, fields).sort("_id", ASCENDING).limit(chunk)
                return [d async for d in cursor]

            docs = await retrying(read, "rollup backfill read")
            if not docs:
                break
            merge(sums, add_up(docs))
            counted += len(docs)
            after = docs[-1]["_id"]
        await self.rollups.set_backfill(sums)
        if counted:
            log.info("ledger: %d record(s) from before rollups counted", counted)
        await self._mark_done(BACKFILL_DONE, counted)
        return counted

    async def _rekey(self, collection: AsyncCollection[Doc], *, chunk: int = 1000) -> int:
        """Move records keyed the old way (by execution id alone) to `ledger_id`; how many.

        Idempotent and safe on several replicas at once: the copy is an insert (a key already
        there is a duplicate, ignored) and the old document is deleted only after its copy is
        stored. Nothing to move costs one query (on FerretDB a scan of every record).
        """
        old_shape = {"execution_id": {"$exists": False}, "org_id": {"$exists": True}}

        async def read() -> list[Doc]:
            return [doc async for doc in collection.find(old_shape).limit(chunk)]

        moved = 0
        while True:
            docs = await retrying(read, "ledger re-key read")
            if not docs:
                return moved
            copies = [
                {**d, "_id": ledger_id(d["org_id"], d["_id"]), "execution_id": d["_id"]}
                for d in docs
            ]
            await insert_new(collection, copies, "ledger re-key")
            await retrying(
                functools.partial(
                    collection.delete_many, {"_id": {"$in": [d["_id"] for d in docs]}}
                ),
                "ledger re-key delete",
            )
            moved += len(docs)
            log.info("ledger: %d record(s) moved to org-scoped keys", len(docs))

    async def insert_finished(self, *, records: Sequence[ExecutionRecord]) -> list[ExecutionRecord]:
        docs = [{**_doc(r), "rollup": 1} for r in records]
        new = await mongo.insert_new_docs(
            self.finished,
            docs,
            what="ledger results",
            backoff=BACKOFF,
            unavailable=StoreUnavailableError,
        )
        await self.rollups.add(new)
        return [_record(_as_stored(d)) for d in new]

    async def daily_between(
        self, *, org_id: str, first_day: date, end_day: date, by_day: bool
    ) -> list[DailyUsage]:
        return await self.rollups.read(
            org_id=org_id, first_day=first_day, end_day=end_day, by_day=by_day
        )

    async def insert_queued(self, *, records: Sequence[ExecutionRecord]) -> int:
        return await insert_new(self.queued, [_doc(r) for r in records], "ledger queued")

    async def get_execution(self, *, org_id: str, execution_id: str) -> ExecutionRecord | None:
        key = ledger_id(org_id, execution_id)

        async def read() -> Doc | None:
            # By _id alone (FerretDB answers that from its primary key; adding fields to the
            # filter makes it several times slower); the key holds the org.
            doc = await self.finished.find_one({"_id": key})
            return doc if doc is not None else await self.queued.find_one({"_id": key})

        doc = await retrying(read, "execution read")
        if doc is None or doc.get("org_id") != org_id:
            return None
        return _record(doc)

    async def finished_between(
        self, *, org_id: str, since: datetime | None, until: datetime | None
    ) -> AsyncIterator[UsageFact]:
        window: Doc = {"$gte": since or EPOCH}
        if until is not None:
            window["$lt"] = until

        async def read() -> list[UsageFact]:
            # Read whole, so a retry never yields a fact twice.
            cursor = self.finished.find(
                {"org_id": org_id, "finished_at": window}, _FACT_FIELDS, batch_size=5000
            )
            return [_fact(doc) async for doc in cursor]

        for fact in await retrying(read, "usage read"):
            yield fact

    async def recent(
        self,
        *,
        org_id: str,
        workspace_id: str,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[ExecutionRecord]:
        async def page(
            collection: AsyncCollection[Doc], field: str, after: tuple[datetime, str] | None
        ) -> list[Doc]:
            query = _newest_first(field, org_id, workspace_id, after)
            cursor = collection.find(query).sort([(field, DESCENDING), ("_id", DESCENDING)])
            return [doc async for doc in cursor.limit(limit)]

        async def read() -> list[ExecutionRecord]:
            finished = [_record(d) for d in await page(self.finished, "finished_at", before)]
            # Queued records whose result is in are hidden; read on until `limit` remain.
            waiting: list[ExecutionRecord] = []
            after = before
            while len(waiting) < limit:
                docs = await page(self.queued, "requested_at", after)
                if not docs:
                    break
                ids = [d["_id"] for d in docs]
                done = set(await mongo.find_by_ids(self.finished, ids, {"_id": 1}))
                waiting += [_record(d) for d in docs if d["_id"] not in done]
                if len(docs) < limit:
                    break
                after = (docs[-1]["requested_at"], docs[-1]["execution_id"])
            merged = sorted(
                finished + waiting, key=lambda r: (r.at or EPOCH, r.execution_id), reverse=True
            )
            return merged[:limit]

        return await retrying(read, "recent executions read")

    async def prune_outputs(self, *, now: datetime) -> int:
        async def prune() -> int:
            result = await self.finished.update_many(
                {"output_expires_at": {"$lte": now}},
                {"$unset": {"output_text": "", "output_expires_at": ""}},
            )
            return result.modified_count

        return await retrying(prune, "output pruning")
