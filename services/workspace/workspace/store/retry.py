"""Transient store failures (FerretDB's "database is locked", reconnects): bounded retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo.errors import (
    PyMongoError,
    ServerSelectionTimeoutError,
)

from shared.mongo import is_transient
from workspace.domain import StoreUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 5
FIRST_PAUSE_S = 0.05
MAX_PAUSE_S = 0.8
UNAVAILABLE = "the usage store is busy; try again shortly"


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
