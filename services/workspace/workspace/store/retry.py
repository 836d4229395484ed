"""Transient store failures (FerretDB's "database is locked", reconnects): bounded retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from shared.mongo import DUPLICATE_KEY_CODES, is_unique_violation
from workspace.domain import StoreUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 5
FIRST_PAUSE_S = 0.05
MAX_PAUSE_S = 0.8
# SQLite under FerretDB: a concurrent writer holds the lock (SQLITE_BUSY / SQLITE_LOCKED).
_TRANSIENT_TEXT = ("database is locked", "database table is locked", "sqlite_busy")
# MongoDB: the node is stepping down, shutting down or not (yet) primary.
_TRANSIENT_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
UNAVAILABLE = "the usage store is busy; try again shortly"


def _transient_failure(code: object, message: str) -> bool:
    if code in DUPLICATE_KEY_CODES:
        return False
    if code == 1 and "UNIQUE constraint failed" in message:
        return False
    text = message.lower()
    return code in _TRANSIENT_CODES or any(t in text for t in _TRANSIENT_TEXT)


def is_transient(exc: BaseException) -> bool:
    """True for failures that a later identical attempt may not meet."""
    if isinstance(exc, AutoReconnect):  # also NetworkTimeout, ServerSelectionTimeoutError
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        return bool(errors) and all(write_error_transient(e) for e in errors)
    if isinstance(exc, OperationFailure):
        if is_unique_violation(exc):
            return False
        if exc.has_error_label("RetryableWriteError"):
            return True
        return _transient_failure(exc.code, str(exc))
    return False


def write_error_transient(error: Mapping[str, Any]) -> bool:
    """A write error of a bulk write that a later attempt may not meet."""
    return _transient_failure(error.get("code"), str(error.get("errmsg", "")))


def is_duplicate(error: Mapping[str, Any]) -> bool:
    """A write error of a bulk write that says the _id (or a unique key) is already there."""
    code = error.get("code")
    return code in DUPLICATE_KEY_CODES or (
        code == 1 and "UNIQUE constraint failed" in str(error.get("errmsg", ""))
    )


def pause(attempt: int) -> float:
    """Exponential backoff: 0.05 s, 0.1 s, 0.2 s, ... capped at MAX_PAUSE_S."""
    return float(min(FIRST_PAUSE_S * 2.0**attempt, MAX_PAUSE_S))


async def retrying(op: Callable[[], Awaitable[T]], what: str, attempts: int = ATTEMPTS) -> T:
    """Run `op`, retrying transient store errors with bounded backoff.

    Raises StoreUnavailableError once the attempts are spent (the API answers 503); any
    other error propagates unchanged. `op` must be safe to repeat (reads, or inserts whose
    duplicates are ignored).
    """
    for attempt in range(attempts):
        try:
            return await op()
        except PyMongoError as exc:
            if not is_transient(exc):
                raise
            last = attempt == attempts - 1
            # The driver already waited its whole server-selection timeout: do not stack more.
            if last or isinstance(exc, ServerSelectionTimeoutError):
                log.warning(
                    "%s failed transiently %d times: %s", what, attempt + 1, type(exc).__name__
                )
                raise StoreUnavailableError(UNAVAILABLE) from exc
            log.info("%s failed transiently (%s); retrying", what, type(exc).__name__)
            await asyncio.sleep(pause(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
