"""The usage ledger in MongoDB (FerretDB-compatible): inserts only on the hot path.

Finished executions live in `ledger_finished` and queued ones in `ledger_queued`, both keyed
by execution id. A write is one `insert_many(ordered=False)`; an id already there is a
duplicate and is ignored, so an execution counts once, the first result wins, and a queued
record can never overwrite a finished one. Unique `_id` inserts are atomic on FerretDB too,
unlike its conditional updates. Only the background output pruning updates documents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError, ServerSelectionTimeoutError

from shared.mongo import is_duplicate_write_error, is_transient, write_error_transient
from workspace.domain import ExecutionRecord, StoreUnavailableError, UsageFact
from workspace.store.retry import ATTEMPTS, UNAVAILABLE, pause, retrying

log = logging.getLogger(__name__)

Doc = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LEGACY = "executions"  # one collection of queued and finished records, written by upserts
MIGRATED = "legacy_executions_copied"

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


def _record(doc: Doc) -> ExecutionRecord:
    values = {name: doc.get(name) for name in _RECORD_FIELDS if name != "execution_id"}
    return ExecutionRecord(execution_id=doc["_id"], **values)  # type: ignore[arg-type]


def _doc(record: ExecutionRecord) -> Doc:
    fields = asdict(record)
    doc: Doc = {"_id": fields.pop("execution_id")}
    doc.update((k, v) for k, v in fields.items() if v is not None)
    return doc


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
        at, last_id = before
        query["$or"] = [{field: {"$lt": at}}, {field: at, "_id": {"$lt": last_id}}]
    return query


async def insert_new(collection: AsyncCollection[Doc], docs: Sequence[Doc], what: str) -> int:
    """Insert `docs` unordered; an `_id` already present counts as done, not as an error.

    Returns how many documents this call inserted. Transient failures (a locked database, a
    reconnect) are retried with bounded backoff, re-sending only what did not land; any other
    write error is raised, never swallowed.
    """
    pending = list(docs)
    inserted = 0
    for attempt in range(ATTEMPTS):
        try:
            await collection.insert_many(pending, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            inserted += int(exc.details.get("nInserted") or 0)
            failed = [e for e in errors if not is_duplicate_write_error(e)]
            if not failed and not exc.details.get("writeConcernErrors"):
                return inserted
            if not failed or not all(write_error_transient(e) for e in failed):
                raise
            pending = [pending[e["index"]] for e in failed]
            problem = f"{len(failed)} write errors"
        except PyMongoError as exc:
            if not is_transient(exc):
                raise
            if isinstance(exc, ServerSelectionTimeoutError):
                raise StoreUnavailableError(UNAVAILABLE) from exc
            # Unknown how much landed: send it all again; what is there now is a duplicate.
            problem = type(exc).__name__
        else:
            return inserted + len(pending)
        if attempt == ATTEMPTS - 1:
            log.warning("%s failed transiently %d times (%s)", what, ATTEMPTS, problem)
            raise StoreUnavailableError(UNAVAILABLE)
        log.info("%s failed transiently (%s); retrying", what, problem)
        await asyncio.sleep(pause(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


class MongoLedgerStore:
    """Finished and queued executions in two collections, each keyed by execution id."""

    def __init__(self, client: AsyncMongoClient[Doc], db_name: str) -> None:
        db = client[db_name]
        self.finished: AsyncCollection[Doc] = db["ledger_finished"]
        self.queued: AsyncCollection[Doc] = db["ledger_queued"]
        self.meta: AsyncCollection[Doc] = db["ledger_meta"]
        self.legacy: AsyncCollection[Doc] = db[LEGACY]

    async def open(self) -> None:
        await self.finished.create_index([("org_id", ASCENDING), ("finished_at", ASCENDING)])
        await self.finished.create_index([("output_expires_at", ASCENDING)])
        for collection, field in ((self.finished, "finished_at"), (self.queued, "requested_at")):
            await collection.create_index(
                [("org_id", ASCENDING), ("workspace_id", ASCENDING), (field, DESCENDING)]
            )
        await self.copy_legacy()

    async def copy_legacy(self) -> None:
        """Copy records of the former single-collection layout once (idempotent)."""
        if await self.meta.find_one({"_id": MIGRATED}) is not None:
            return
        finished: list[Doc] = []
        queued: list[Doc] = []
        async for doc in self.legacy.find({}, batch_size=1000):
            record = _record(doc)
            (finished if record.finished else queued).append(_doc(record))
            if len(finished) + len(queued) >= 1000:
                await self._copy(finished, queued)
                finished, queued = [], []
        await self._copy(finished, queued)
        await insert_new(self.meta, [{"_id": MIGRATED, "at": datetime.now(UTC)}], "ledger meta")

    async def _copy(self, finished: list[Doc], queued: list[Doc]) -> None:
        if finished:
            await insert_new(self.finished, finished, "legacy copy")
        if queued:
            await insert_new(self.queued, queued, "legacy copy")

    async def insert_finished(self, *, records: Sequence[ExecutionRecord]) -> int:
        return await insert_new(self.finished, [_doc(r) for r in records], "ledger results")

    async def insert_queued(self, *, records: Sequence[ExecutionRecord]) -> int:
        return await insert_new(self.queued, [_doc(r) for r in records], "ledger queued")

    async def get_execution(self, *, org_id: str, execution_id: str) -> ExecutionRecord | None:
        async def read() -> Doc | None:
            # By _id alone (FerretDB answers that from its primary key; adding org_id to the
            # filter makes it several times slower); the org is checked below.
            doc = await self.finished.find_one({"_id": execution_id})
            return doc if doc is not None else await self.queued.find_one({"_id": execution_id})

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
                done = {
                    d["_id"] async for d in self.finished.find({"_id": {"$in": ids}}, {"_id": 1})
                }
                waiting += [_record(d) for d in docs if d["_id"] not in done]
                if len(docs) < limit:
                    break
                after = (docs[-1]["requested_at"], docs[-1]["_id"])
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
