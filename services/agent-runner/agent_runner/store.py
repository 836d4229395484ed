"""The dedupe record: finished executions and the result published for each.

Stored before the result is published, so a request redelivered after a crash anywhere
past that point republishes the same result instead of calling the provider again.

Execution ids are scoped by org: claims and results are keyed by `dedupe_key(org_id,
execution_id)`, `"<org_id>/<execution_id>"` (identifiers cannot contain "/"), so two orgs
using the same execution id never see each other's result.

The hot path only inserts, never looks up. `claim` inserts that key (an insert
into `claims`, unique `_id`): a fresh claim proves no result can exist yet (results are stored
only after a claim), so only a clashing claim (a redelivery) reads `results`. Why: FerretDB on
SQLite answers `_id` lookups by scanning the collection (a miss costs ~6 µs per stored
document, ~30 ms at 5,000), while inserts stay cheap through the unique index; on MongoDB both
are indexed. Claims and results are group-committed (`shared.batching.GroupCommit`): the
requests of one fetched batch claim with one `insert_many`, results finishing together are
stored with one `insert_many`, and each caller returns only after its own document is stored.

Records written before the key became org-scoped (`_id` = the execution id alone) are not
migrated: they are only read when the same request is redelivered, so at most a request in
flight across the upgrade is executed once more (at-least-once allows it; the ledger keeps the
first result). They are never read as another org's result, since new keys always contain "/".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, CollectionInvalid, OperationFailure

from shared.batching import GroupCommit
from shared.contracts import ExecutionResult
from shared.mongo import DUPLICATE_KEY_CODES

NAMESPACE_EXISTS = 48


def dedupe_key(org_id: str, execution_id: str) -> str:
    """The `_id` of an execution's claim and result: ids are scoped by org, so the org is
    part of it. Identifiers cannot contain "/" (shared.contracts.IDENTIFIER_PATTERN)."""
    return f"{org_id}/{execution_id}"


class MongoDedupeStore:
    """`claims` and `results` of the runner's own database; `_id` is `dedupe_key(org, id)`."""

    def __init__(
        self, client: AsyncMongoClient[dict[str, Any]], db: str, *, max_batch: int = 256
    ) -> None:
        self._client = client
        self._results = client[db]["results"]
        self._claims = client[db]["claims"]
        # A claim overlaps the key request (tens of ms), so claims take one write at a time
        # and batch up; a result is on the way to its publish, so two result writes may be in
        # flight and a batch need not wait for the whole previous one.
        self.claims: GroupCommit[str, ExecutionResult | None] = GroupCommit(
            self._claim_many, max_batch=max_batch, concurrency=1
        )
        self.inserts: GroupCommit[ExecutionResult, ExecutionResult] = GroupCommit(
            self._put_many, max_batch=max_batch, concurrency=2
        )

    async def open(self) -> None:
        """Checks the server answers and creates the collections (nothing to index beyond
        `_id`), so the first executions do not pay for creating them (~100 ms on FerretDB)."""
        await self._client.admin.command("ping")
        existing = set(await self._claims.database.list_collection_names())
        for collection in (self._claims, self._results):
            if collection.name not in existing:
                try:
                    await collection.database.create_collection(collection.name)
                except (CollectionInvalid, OperationFailure) as exc:
                    # Another instance created it meanwhile (NamespaceExists, code 48).
                    if isinstance(exc, OperationFailure) and exc.code != NAMESPACE_EXISTS:
                        raise

    async def ping(self) -> bool:
        """Whether the server answers now (readiness)."""
        try:
            await self._client.admin.command("ping")
        except Exception:
            return False
        return True

    async def claim(self, *, org_id: str, execution_id: str) -> ExecutionResult | None:
        """The stored result of a redelivered execution; None (and claimed) for a new one."""
        return await self.claims.submit(dedupe_key(org_id, execution_id))

    async def put(self, *, result: ExecutionResult) -> ExecutionResult:
        return await self.inserts.submit(result)

    async def _claim_many(self, keys: list[str]) -> list[ExecutionResult | None]:
        docs = [{"_id": k} for k in dict.fromkeys(keys)]
        seen: set[str] = set()
        try:
            await self._claims.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") not in DUPLICATE_KEY_CODES for e in errors):
                raise
            seen = {docs[e["index"]]["_id"] for e in errors}
        # Claimed before: a redelivery (or a retry of ours). Its result, if it was stored.
        stored: dict[str, ExecutionResult] = {}
        for key in seen:
            doc = await self._results.find_one({"_id": key})
            if doc is not None:
                stored[key] = ExecutionResult.model_validate(doc["result"])
        return [stored.get(k) for k in keys]

    async def _put_many(self, results: list[ExecutionResult]) -> list[ExecutionResult]:
        keys = [dedupe_key(r.org_id, r.execution_id) for r in results]
        docs = [
            {
                "_id": key,
                "org_id": r.org_id,
                "execution_id": r.execution_id,
                "result": r.model_dump(mode="json"),
                "at": r.occurred_at,
            }
            for key, r in zip(keys, results, strict=True)
        ]
        try:
            await self._results.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") not in DUPLICATE_KEY_CODES for e in errors):
                raise
            # Some were finished already (another instance, or twice in this batch): what is
            # stored wins, so every copy publishes the same result.
            stored: dict[str, ExecutionResult] = {}
            for key in {keys[e["index"]] for e in errors}:
                doc = await self._results.find_one({"_id": key})
                if doc is not None:
                    stored[key] = ExecutionResult.model_validate(doc["result"])
            return [stored.get(k, r) for k, r in zip(keys, results, strict=True)]
        return results

    async def prune(self, *, before: datetime, chunk: int = 5000) -> int:
        """Delete the results stored before `before`, and their claims; how many results.

        Claims go first: a crash in between leaves results, which the next run deletes. A
        claim without a result (an execution still running, or abandoned) carries no time
        and stays. Pruning only records older than any possible redelivery keeps the
        guarantee: a redelivered request still finds its result and calls no provider.
        """
        pruned = 0
        while True:
            old = self._results.find({"at": {"$lt": before}}, {"_id": 1}).limit(chunk)
            keys = [doc["_id"] async for doc in old]
            if not keys:
                return pruned
            await self._claims.delete_many({"_id": {"$in": keys}})
            await self._results.delete_many({"_id": {"$in": keys}})
            pruned += len(keys)

    async def close(self) -> None:
        """Flush the pending group commits, then close the client."""
        await self.claims.close()
        await self.inserts.close()
        await self._client.close()
