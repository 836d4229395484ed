"""Group commit: concurrent callers' items written together, each caller answered after its batch.

A `GroupCommit` collects what callers `submit` while a write is in flight and writes it as
the next batch (one `insert_many`, one `$in` lookup, ...). Nobody waits for a timer: with no
write in flight, a batch starts on the next event-loop turn; under load, batches grow on
their own to whatever arrived during the previous write. A caller's `submit` returns only
after the batch holding its item was flushed, with that item's result (or the batch's error),
so "durably written before we go on" still holds per caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Batches concurrent `submit(item)` calls into `flush(items) -> results` (same order).

    Up to `concurrency` flushes run at once (default 1: strictly one write after another).
    More than one lets the next batch start while a slow one is in flight, so a caller waits
    about one flush instead of the rest of the current one plus its own; each extra flush
    only starts when every running one is busy, so at low load there is still one.
    """

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 256,
        concurrency: int = 1,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._flush = flush
        self._max = max_batch
        self._concurrency = concurrency
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._workers: set[asyncio.Task[None]] = set()
        self._flushing = 0
        self.batches = 0  # how many flushes ran (for tests and metrics)

    async def submit(self, item: T) -> R:
        """Queue `item`; return its result once the batch holding it has been flushed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        live = sum(1 for w in self._workers if not w.done())  # a finished one may linger
        if live - self._flushing <= 0 and live < self._concurrency:
            worker = asyncio.create_task(self._drain(), name="group-commit")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        # The write goes on even if this caller is cancelled; it just stops waiting for it.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let callers scheduled in the same loop turn join the batch
        while self._pending:
            batch = self._pending[: self._max]
            del self._pending[: self._max]
            self._flushing += 1
            try:
                results = await self._flush([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError("flush returned a result count unlike its batch")
            except asyncio.CancelledError:
                for _, future in [*batch, *self._pending]:
                    future.cancel()
                self._pending.clear()
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            finally:
                self._flushing -= 1
            self.batches += 1
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Wait until everything submitted so far has been flushed."""
        while self._workers:
            await asyncio.wait(set(self._workers))


K = TypeVar("K")


class SingleFlight(Generic[K, R]):
    """Concurrent `run(key, make)` calls with one key share one call of `make()`.

    The shared call runs as a task of its own, so a caller that is cancelled does not cancel
    it for the others; each caller gets its result or its error. Once it ends, the next
    `run` of that key calls `make()` again (nothing is cached here).
    """

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[R]] = {}

    async def run(self, key: K, make: Callable[[], Awaitable[R]]) -> R:
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(make())
            self._running[key] = running
            running.add_done_callback(lambda done: self._ended(key, done))
        return await asyncio.shield(running)

    def _ended(self, key: K, done: asyncio.Future[R]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: no warning when every caller was cancelled
