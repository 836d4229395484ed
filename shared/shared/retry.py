"""One retry helper for transient failures, built on tenacity.

Repositories use it through `shared.mongo.retrying` (which knows what a transient store
error is: a busy SQLite writer under FerretDB, a failover, the network). The first attempt
runs bare, so the common case (no error) pays nothing for the retry machinery; tenacity
drives only the attempts that follow a transient failure.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

log = logging.getLogger(__name__)
T = TypeVar("T")
ErrorTest = Callable[[BaseException], bool]


@dataclass(frozen=True)
class Backoff:
    """How often and how patiently a transient failure is retried."""

    attempts: int = 5  # tries in all, the first one included
    first_pause_s: float = 0.05
    max_pause_s: float = 0.8
    jitter: bool = False  # spread concurrent retries over 0.5–1.5 times the pause

    def pause(self, retry: int) -> float:
        """The pause before retry number `retry` (0 is the first): exponential, capped."""
        delay = float(min(self.max_pause_s, self.first_pause_s * 2.0**retry))
        return delay * (0.5 + random.random()) if self.jitter else delay  # noqa: S311


def _never(_: BaseException) -> bool:
    return False


async def retry_transient(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    backoff: Backoff,
    transient: ErrorTest,
    unavailable: Callable[[], Exception],
    hopeless: ErrorTest = _never,
) -> T:
    """Run `op`, retrying the errors `transient` accepts with bounded backoff.

    A transient error that outlasts the attempts (or that `hopeless` says no retry can cure)
    becomes `unavailable()`, a service's retryable 503 error; any other error propagates
    unchanged. `op` must be safe to repeat.
    """
    try:
        return await op()
    except Exception as exc:
        if not transient(exc):
            raise
        if backoff.attempts <= 1 or hopeless(exc):
            _give_up(what, 1, exc, unavailable)
        log.info("%s failed transiently (%s); retrying", what, type(exc).__name__)

    def note(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.info("%s failed transiently (%s); retrying", what, type(error).__name__)

    await asyncio.sleep(backoff.pause(0))
    retrying = AsyncRetrying(
        stop=stop_after_attempt(backoff.attempts - 1),
        wait=lambda state: backoff.pause(state.attempt_number),
        retry=retry_if_exception(lambda exc: transient(exc) and not hopeless(exc)),
        before_sleep=note,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await op()
    except Exception as exc:
        if not transient(exc):
            raise
        _give_up(what, 1 + retrying.statistics.get("attempt_number", 0), exc, unavailable)
    raise AssertionError("unreachable")  # pragma: no cover


def _give_up(
    what: str, tries: int, exc: BaseException, unavailable: Callable[[], Exception]
) -> NoReturn:
    log.warning("%s failed transiently %d times (%s)", what, tries, type(exc).__name__)
    raise unavailable() from None
