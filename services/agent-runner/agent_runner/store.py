"""The dedupe record: finished executions and the result published for each, and who is
executing the unfinished ones.

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

Owner and lease (issue 12, fix 3): a claim is `{_id, owner, lease_until}`; `owner` is the
runner instance (`RUNNER_INSTANCE_ID`), `lease_until` is renewed once two thirds of it or less is
left while the execution runs (one `update_many` for the leases due; an execution that ends
within `lease_s / 3` is never renewed). A claim that clashes
with an existing one, with no stored result, is taken over only when it is ours or its lease
has expired (one `find_one_and_update` whose filter says so: single-document and atomic on
FerretDB); otherwise the runner does not call the provider but waits: every `poll_s` one
`$in` query over `results` for all waiting executions, and a takeover attempt for those whose
lease has expired; one this runner itself is executing in another task (a partition revoked
and assigned back re-fetches it) is waited for the same way. So a request re-fetched after a
rebalance waits for the previous owner's result, and a crashed owner's work is finished by
another runner once its lease expires (at-least-once). The lease is compared against the
claiming runner's wall clock: clocks must agree to well within `lease_s`.

Records written before the key became org-scoped (`_id` = the execution id alone) are not
migrated: they are only read when the same request is redelivered, so at most a request in
flight across the upgrade is executed once more (at-least-once allows it; the ledger keeps the
first result). They are never read as another org's result, since new keys always contain "/".
Claims written before leases existed (no `lease_until`) count as expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import BulkWriteError, CollectionInvalid, OperationFailure

from shared.batching import GroupCommit
from shared.contracts import ExecutionResult
from shared.mongo import DUPLICATE_KEY_CODES, find_by_ids

log = logging.getLogger(__name__)

NAMESPACE_EXISTS = 48


def dedupe_key(org_id: str, execution_id: str) -> str:
    """The `_id` of an execution's claim and result: ids are scoped by org, so the org is
    part of it. Identifiers cannot contain "/" (shared.contracts.IDENTIFIER_PATTERN)."""
    return f"{org_id}/{execution_id}"


def default_owner() -> str:
    """A runner instance id unique across hosts and restarts: host, pid and a random tail."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Held:
    """A claim another runner holds under a live lease (no result stored yet)."""

    key: str


_Claimed = ExecutionResult | _Held | None


class MongoDedupeStore:
    """`claims` and `results` of the runner's own database; `_id` is `dedupe_key(org, id)`."""

    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        db: str,
        *,
        max_batch: int = 256,
        owner: str | None = None,
        lease_s: float = 30.0,
        poll_s: float = 0.5,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._client = client
        self._results = client[db]["results"]
        self._claims = client[db]["claims"]
        self.owner = owner or default_owner()
        self._lease = timedelta(seconds=lease_s)
        self._poll_s = poll_s
        self._clock = clock
        # Claims this runner holds and renews: key -> when its lease (as last written) ends.
        self._held: dict[str, datetime] = {}
        self._waiting: dict[str, list[asyncio.Future[ExecutionResult | None]]] = {}
        self._keeper: asyncio.Task[None] | None = None
        self._closed = False
        self.waits = 0  # claims found held by another live runner (metrics, tests)
        self.takeovers = 0  # expired leases of another runner taken over
        self.lost_leases = 0  # our leases found taken over by another runner at renewal
        # A claim overlaps the key request (tens of ms), so claims take one write at a time
        # and batch up; a result is on the way to its publish, so two result writes may be in
        # flight and a batch need not wait for the whole previous one.
        self.claims: GroupCommit[str, _Claimed] = GroupCommit(
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

    @property
    def waiting(self) -> int:
        """Executions waiting for another runner's lease."""
        return len(self._waiting)

    async def claim(self, *, org_id: str, execution_id: str) -> ExecutionResult | None:
        """The stored result of a redelivered execution; None once this runner holds the
        claim (new, ours already, or another runner's expired lease taken over). While
        another runner holds it under a live lease, waits for its result or for the lease to
        expire (see the module docstring)."""
        key = dedupe_key(org_id, execution_id)
        outcome = await self.claims.submit(key)
        if outcome is None and key in self._held:
            # Another task of this runner is executing it: a partition revoked and assigned
            # back to us re-fetches work still in flight here. Wait for that task's result.
            outcome = _Held(key)
        if isinstance(outcome, _Held):
            self.waits += 1
            future: asyncio.Future[ExecutionResult | None] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiting.setdefault(key, []).append(future)
            self._start_keeper()
            try:
                outcome = await future
            finally:
                futures = self._waiting.get(key, [])
                if future in futures:
                    futures.remove(future)
                if not futures:
                    self._waiting.pop(key, None)
        if outcome is None:
            self._held[key] = self._clock() + self._lease
            self._start_keeper()
        return outcome

    def release(self, *, org_id: str, execution_id: str) -> None:
        """Stop renewing the lease of an execution this runner no longer works on (its result
        is stored, or the attempt failed): the lease then expires on its own."""
        self._held.pop(dedupe_key(org_id, execution_id), None)

    async def put(self, *, result: ExecutionResult) -> ExecutionResult:
        stored = await self.inserts.submit(result)
        self.release(org_id=result.org_id, execution_id=result.execution_id)
        return stored

    def _lease_doc(self) -> dict[str, Any]:
        return {"owner": self.owner, "lease_until": self._clock() + self._lease}

    async def _claim_many(self, keys: list[str]) -> list[_Claimed]:
        docs = [{"_id": k, **self._lease_doc()} for k in dict.fromkeys(keys)]
        seen: set[str] = set()
        try:
            await self._claims.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") not in DUPLICATE_KEY_CODES for e in errors):
                raise
            seen = {docs[e["index"]]["_id"] for e in errors}
        # Claimed before: a redelivery (or a retry of ours). Its result, if it was stored;
        # else the claim if it is ours or its lease expired; else it is held.
        outcome: dict[str, _Claimed] = {}
        for key in seen:
            doc = await self._results.find_one({"_id": key})
            if doc is not None:
                outcome[key] = ExecutionResult.model_validate(doc["result"])
            elif not await self._take(key):
                outcome[key] = _Held(key)
        return [outcome.get(k) for k in keys]

    async def _take(self, key: str) -> bool:
        """Make an existing claim ours if it is ours already or its lease expired (atomic)."""
        now = self._clock()
        before = await self._claims.find_one_and_update(
            {
                "_id": key,
                "$or": [
                    {"owner": self.owner},
                    {"lease_until": {"$lt": now}},
                    {"lease_until": {"$exists": False}},
                ],
            },
            {"$set": self._lease_doc()},
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return False
        if before.get("owner") not in (None, self.owner):
            self.takeovers += 1
            log.warning("took over an expired claim lease of runner %s", before.get("owner"))
        return True

    # ---------------------------------------------------------------- the lease keeper

    def _start_keeper(self) -> None:
        if (self._keeper is None or self._keeper.done()) and not self._closed:
            self._keeper = asyncio.create_task(self._keep(), name="claim-lease-keeper")

    async def _keep(self) -> None:
        """Renew held leases every `lease / 3`; every `poll_s`, answer waiters whose result
        was stored and take over claims whose lease expired."""
        renew_every = self._lease.total_seconds() / 3
        while self._held or self._waiting:
            await asyncio.sleep(min(self._poll_s, renew_every))
            try:
                if self._held:
                    await self._renew()
                if self._waiting:
                    await self._poll_waiters()
            except Exception as exc:  # the store is down: keep trying, leases may lapse
                log.warning("claim lease keeper: %s", type(exc).__name__)

    async def _renew(self) -> None:
        """Renew the leases that are due: those with two thirds of the lease or less left.

        An execution that finishes within a third of the lease (nearly all of them) is never
        renewed, so no write touches `claims` while it runs. That matters on FerretDB, where
        an `_id $in` update scans the whole collection (claims of every execution retained,
        days of them): renewing every held lease every `lease / 3` took seconds of FerretDB's
        write lock once the collection held tens of thousands of claims, and stalled every
        other write meanwhile.
        """
        now = self._clock()
        due_by = now + self._lease * 2 / 3
        keys = [k for k, until in self._held.items() if until <= due_by]
        if not keys:
            return
        lease = self._lease_doc()
        reply = await self._claims.update_many(
            {"_id": {"$in": keys}, "owner": self.owner}, {"$set": lease}
        )
        for key in keys:
            if key in self._held:
                self._held[key] = lease["lease_until"]
        if reply.matched_count < len(keys):
            # Released meanwhile, or taken over after our lease lapsed (store outage, stall).
            lost = [k for k in keys if k in self._held]
            if reply.matched_count < len(lost):
                self.lost_leases += len(lost) - reply.matched_count
                log.warning("%d claim leases lapsed", len(lost) - reply.matched_count)

    async def _poll_waiters(self) -> None:
        """The waiters' results and claims by `_id`, and a takeover only where a lease expired."""
        keys = list(self._waiting)
        answers: dict[str, _Claimed] = {
            key: ExecutionResult.model_validate(stored["result"])
            for key, stored in (await find_by_ids(self._results, keys)).items()
        }
        left = [k for k in keys if k not in answers]
        if left:
            now = self._clock()
            claims = await find_by_ids(self._claims, left)
            for key in left:
                doc = claims.get(key)
                until = doc.get("lease_until") if doc is not None else None
                if until is not None and until.tzinfo is None:
                    until = until.replace(tzinfo=UTC)
                if doc is None:  # the claim is gone (pruned): claim it afresh
                    answers[key] = await self.claims.submit(key)
                elif (
                    until is None
                    or until < now
                    or (doc.get("owner") == self.owner and key not in self._held)
                ) and await self._take(key):
                    answers[key] = None
        for key, answer in answers.items():
            if isinstance(answer, _Held):
                continue
            for future in self._waiting.pop(key, []):
                if not future.done():
                    future.set_result(answer)

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
        """Flush the pending group commits, stop renewing leases, then close the client."""
        if self._closed:
            return
        self._closed = True
        self._held.clear()
        for futures in self._waiting.values():
            for future in futures:
                if not future.done():
                    future.set_exception(ConnectionError("the dedupe store was closed"))
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self.claims.close()
        await self.inserts.close()
        await self._client.close()
