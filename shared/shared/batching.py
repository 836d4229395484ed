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
    """Batches concurrent `submit(item)` calls into `flush(items) -> results` (same order)."""

    def __init__(
        self, flush: Callable[[list[T]], Awaitable[Sequence[R]]], *, max_batch: int = 256
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._flush = flush
        self._max = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0  # how many flushes ran (for tests and metrics)

    async def submit(self, item: T) -> R:
        """Queue `item`; return its result once the batch holding it has been flushed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="group-commit")
        # The write goes on even if this caller is cancelled; it just stops waiting for it.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let callers scheduled in the same loop turn join the batch
        while self._pending:
            batch = self._pending[: self._max]
            del self._pending[: self._max]
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
            self.batches += 1
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Wait until everything submitted so far has been flushed."""
        while self._worker is not None and not self._worker.done():
            await asyncio.wait({self._worker})
