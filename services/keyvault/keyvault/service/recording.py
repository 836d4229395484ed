"""What a resolution records: its audit entry (group-committed) and the key's last use (coalesced).

Per resolution the store used to take one audit insert and one `last_used_at` update. On
FerretDB/SQLite updates run at ~90/s and contend ("database is locked"), so:

- audit entries from concurrent resolutions go to the store together (one `insert_many`);
  each resolution still waits until its own entry is stored before the key is released;
- `last_used_at` is informational: the latest use per key is kept in memory and written at
  most once per key per `interval_s` (a first use at once, then the newest use of each
  interval; and what is left on shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime

from keyvault.domain import AuditEntry, KeyStore
from shared.batching import GroupCommit

log = logging.getLogger(__name__)


class AuditLog:
    """Group commit of audit entries: `record_many` returns once its entries are stored."""

    def __init__(
        self,
        store: KeyStore,
        *,
        max_batch: int = 256,
        observe_write: Callable[[float], None] | None = None,
    ) -> None:
        self._store = store
        self._observe_write = observe_write
        self._commit: GroupCommit[AuditEntry, None] = GroupCommit(self._flush, max_batch=max_batch)

    @property
    def batches(self) -> int:
        return self._commit.batches

    async def _flush(self, entries: list[AuditEntry]) -> list[None]:
        started = time.perf_counter()
        await self._store.add_audits(entries=entries)
        if self._observe_write is not None:
            self._observe_write(time.perf_counter() - started)
        return [None] * len(entries)

    async def record_many(self, entries: list[AuditEntry]) -> None:
        """Returns once every one of `entries` is stored (group-committed with others)."""
        await asyncio.gather(*(self._commit.submit(e) for e in entries))

    async def close(self) -> None:
        await self._commit.close()


class LastUsed:
    """The latest use of each key, written to the store at most once per key per interval.

    A key not written within the last interval is written at once (in the background), so
    an occasional use shows up immediately; uses that follow within the interval are folded
    into one later write of the newest time.
    """

    def __init__(self, store: KeyStore, *, interval_s: float = 1.0) -> None:
        self._store = store
        self._interval = interval_s
        self._latest: dict[str, datetime] = {}
        self._written: dict[str, float] = {}  # key id -> monotonic time of its last write
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def note(self, key_id: str, at: datetime) -> None:
        """Remember a use; the writer is woken, nothing is written here."""
        seen = self._latest.get(key_id)
        if seen is None or seen < at:
            self._latest[key_id] = at
        self._wake.set()

    async def _write(self, key_id: str, at: datetime) -> None:
        self._written[key_id] = time.monotonic()
        try:
            await self._store.touch_last_used(key_id=key_id, at=at)
        except Exception as exc:
            log.warning("last_used_at not updated yet: %s", type(exc).__name__)
            self.note(key_id, at)  # retried once its interval has passed

    async def flush(self) -> None:
        """Write every remembered use now (one update per key)."""
        batch, self._latest = self._latest, {}
        for key_id, at in batch.items():
            await self._write(key_id, at)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            now = time.monotonic()
            for key_id, when in list(self._written.items()):
                if now - when >= self._interval:
                    del self._written[key_id]
            due = [k for k in self._latest if k not in self._written]
            for key_id in due:
                await self._write(key_id, self._latest.pop(key_id))
            if self._latest:  # the rest wait until their key's interval has passed
                now = time.monotonic()
                soonest = min(self._written.get(k, now) for k in self._latest) + self._interval
                loop.call_later(max(0.001, soonest - now), self._wake.set)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="keyvault-last-used")

    async def stop(self) -> None:
        """Stop the writer and write what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
