"""What the services' MongoDB repositories need to know about store errors.

The same code runs on MongoDB (production) and FerretDB 1.x on SQLite (local and CI), and
the two report the same situations differently: FerretDB answers a unique-index violation
on *update* with code 1 and SQLite's message, and a busy writer with "database is locked".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

from shared.contracts import utcnow
from shared.retry import Backoff, retry_transient

Doc = dict[str, Any]
T = TypeVar("T")

DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})
# MongoDB: stepping down, shutting down, not (yet) primary, network, write conflict.
TRANSIENT_CODES = frozenset({6, 7, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
# SQLite under FerretDB: another writer holds the lock (SQLITE_BUSY / SQLITE_LOCKED).
_TRANSIENT_TEXT = ("database is locked", "database table is locked", "sqlite_busy")


def _unique_violation(code: object, message: str) -> bool:
    return code in DUPLICATE_KEY_CODES or (code == 1 and "UNIQUE constraint failed" in message)


def _transient(code: object, message: str) -> bool:
    if _unique_violation(code, message):
        return False
    text = message.lower()
    return code in TRANSIENT_CODES or any(marker in text for marker in _TRANSIENT_TEXT)


def is_unique_violation(exc: BaseException) -> bool:
    """True when a write failed on a unique index (MongoDB code 11000, or FerretDB's code 1)."""
    return _unique_violation(getattr(exc, "code", None), str(exc))


def is_duplicate_write_error(error: Mapping[str, Any]) -> bool:
    """A write error of a bulk write saying the _id (or another unique key) is already there."""
    return _unique_violation(error.get("code"), str(error.get("errmsg", "")))


def write_error_transient(error: Mapping[str, Any]) -> bool:
    """A write error of a bulk write that a later attempt may not meet."""
    return _transient(error.get("code"), str(error.get("errmsg", "")))


def is_transient(exc: BaseException) -> bool:
    """A store error worth retrying shortly: a busy SQLite writer, failover, the network."""
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return True  # AutoReconnect, NotPrimaryError, NetworkTimeout, server selection
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        return bool(errors) and all(write_error_transient(e) for e in errors)
    if isinstance(exc, OperationFailure):
        if is_unique_violation(exc):
            return False
        if exc.has_error_label("RetryableWriteError") or exc.has_error_label(
            "TransientTransactionError"
        ):
            return True
        return _transient(exc.code, str(exc))
    return False


# --- retries, inserts and quota slots every repository uses ------------------------------


def _hopeless(exc: BaseException) -> bool:
    # The driver already waited its whole server-selection timeout: do not stack more.
    return isinstance(exc, ServerSelectionTimeoutError)


async def retrying(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    backoff: Backoff,
    unavailable: Callable[[], Exception],
) -> T:
    """Run `op`, retrying transient store errors (`is_transient`) with bounded backoff.

    Once the attempts are spent, `unavailable()` (the service's retryable 503) is raised;
    any other error propagates unchanged. `op` must be safe to repeat.
    """
    return await retry_transient(
        op,
        what=what,
        backoff=backoff,
        transient=is_transient,
        hopeless=_hopeless,
        unavailable=unavailable,
    )


async def insert_new(
    collection: AsyncCollection[Doc],
    docs: Sequence[Doc],
    *,
    what: str,
    backoff: Backoff,
    unavailable: Callable[[], Exception],
) -> int:
    """Insert `docs` unordered; an `_id` already present counts as done, not as an error.

    Returns how many documents this call inserted. Transient failures are retried, re-sending
    only what did not land (after an ambiguous failure: everything, what is there now comes
    back as a duplicate); any other write error is raised, never swallowed.
    """
    pending = list(docs)
    inserted = 0

    async def attempt() -> int:
        nonlocal pending, inserted
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
            # Only transient errors are left: retry just those documents.
            raise BulkWriteError({"writeErrors": failed, "nInserted": 0}) from None
        return inserted + len(pending)

    if not pending:
        return 0
    return await retrying(attempt, what=what, backoff=backoff, unavailable=unavailable)


class Slots:
    """An org's `limit` quota slots, numbered, one document each (`_id` = "<org>#<n>").

    FerretDB's conditional updates are not atomic under concurrency (a conditional `$inc`
    can overshoot), but a unique `_id` insert is: whoever inserts slot n holds it. Keys and
    workspaces are counted this way; the caller decides what a refused slot means.
    """

    def __init__(
        self,
        collection: AsyncCollection[Doc],
        *,
        holder_field: str,
        live_holders: Callable[[list[str]], Awaitable[Collection[str]]],
        stale_after: timedelta = timedelta(seconds=60),
    ) -> None:
        self._slots = collection
        self._holder = holder_field
        self._live = live_holders
        self._stale_after = stale_after

    async def open(self) -> None:
        await self._slots.create_index([("org_id", ASCENDING), (self._holder, ASCENDING)])

    async def take(self, *, org_id: str, holder: str, limit: int | None) -> bool:
        """Take one of the org's `limit` slots for `holder`; False when all are held.

        A slot whose holder never appeared (a crash between the slot and the insert) is
        reclaimed once it is `stale_after` old.
        """
        if limit is None:
            return True
        for _ in range(3):
            used = {d["_id"] async for d in self._slots.find({"org_id": org_id}, {"_id": 1})}
            if len(used) < limit:
                for number in range(limit):
                    slot_id = f"{org_id}#{number}"
                    if slot_id in used:
                        continue
                    try:
                        await self._slots.insert_one(
                            {
                                "_id": slot_id,
                                "org_id": org_id,
                                "slot": number,
                                self._holder: holder,
                                "at": utcnow(),
                            }
                        )
                    except DuplicateKeyError:
                        continue
                    return True
            if not await self._reclaim_stale(org_id=org_id):
                break
        return False

    async def _reclaim_stale(self, *, org_id: str) -> bool:
        slots = [d async for d in self._slots.find({"org_id": org_id})]
        live = await self._live([s[self._holder] for s in slots])
        cutoff = utcnow() - self._stale_after
        reclaimed = False
        for slot in slots:
            at: datetime | None = slot.get("at")
            if slot[self._holder] not in live and at is not None and at < cutoff:
                result = await self._slots.delete_one(
                    {"_id": slot["_id"], self._holder: slot[self._holder]}
                )
                reclaimed = reclaimed or result.deleted_count == 1
        return reclaimed

    async def release(self, *, org_id: str, holder: str) -> None:
        """Free the slot `holder` holds (if any)."""
        await self._slots.delete_many({"org_id": org_id, self._holder: holder})
