"""What the services' MongoDB repositories need to know about store errors.

The same code runs on MongoDB (production) and FerretDB 1.x on SQLite (local and CI), and
the two report the same situations differently: FerretDB answers a unique-index violation
on *update* with code 1 and SQLite's message, and a busy writer with "database is locked".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    WTimeoutError,
)

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
