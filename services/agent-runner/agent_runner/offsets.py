"""Which offset of each partition may be committed when executions finish out of order.

Why not FastStream's subscriber options: they acknowledge each message in the order it is
handled (ack-first, or ack after the handler returns), so either a slow call holds up the
whole partition (concurrency = partitions) or a later, faster message acknowledges past an
earlier one still in flight and a crash loses it. The runner instead keeps many executions
in flight per partition and commits a partition only up to the lowest offset not yet
finished. This tracker is the pure bookkeeping for that; the consumer (`consumer.py`) feeds
it from aiokafka and commits what it returns with `consumer.commit({tp: offset})`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)


class _Partition:
    __slots__ = ("committed", "next_offset", "open", "pending")

    def __init__(self) -> None:
        self.pending: deque[int] = deque()  # offsets handed out, ascending; head may be done
        self.open: set[int] = set()  # offsets handed out and not finished
        self.next_offset: int | None = None  # one past the highest offset handed out
        self.committed: int | None = None  # what was last reported as committed


class OffsetTracker(Generic[P]):
    """Per partition: offsets in flight, and the commit point below every unfinished one."""

    def __init__(self) -> None:
        self._parts: dict[P, _Partition] = {}
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Offsets handed out and not yet finished, across all partitions."""
        return self._in_flight

    def started(self, partition: P, offset: int) -> bool:
        """Record that `offset` is being worked on; False if it already is (a re-fetch)."""
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition()
        if part.next_offset is not None and offset < part.next_offset:
            return False
        part.pending.append(offset)
        part.open.add(offset)
        part.next_offset = offset + 1
        self._in_flight += 1
        return True

    def finished(self, partition: P, offset: int) -> None:
        """Record that `offset` is done (its result published); unknown offsets are ignored."""
        part = self._parts.get(partition)
        if part is None or offset not in part.open:
            return
        part.open.discard(offset)
        self._in_flight -= 1
        while part.pending and part.pending[0] not in part.open:
            part.pending.popleft()

    def commit_point(self, partition: P) -> int | None:
        """The offset to commit: the lowest unfinished one, else one past the highest seen."""
        part = self._parts.get(partition)
        if part is None or part.next_offset is None:
            return None
        return part.pending[0] if part.pending else part.next_offset

    def committable(self, partitions: Iterable[P] | None = None) -> dict[P, int]:
        """Commit points that moved since they were last marked committed."""
        out: dict[P, int] = {}
        for partition in self._parts if partitions is None else partitions:
            point = self.commit_point(partition)
            part = self._parts.get(partition)
            if point is not None and part is not None and point != part.committed:
                out[partition] = point
        return out

    def mark_committed(self, offsets: dict[P, int]) -> None:
        """Remember what was committed, so `committable` reports only progress."""
        for partition, offset in offsets.items():
            part = self._parts.get(partition)
            if part is not None:
                part.committed = offset

    def unfinished(self, partition: P) -> int:
        """How many offsets of `partition` are in flight."""
        part = self._parts.get(partition)
        return 0 if part is None else len(part.open)

    def forget(self, partitions: Iterable[P]) -> None:
        """Drop the bookkeeping of revoked partitions; their late completions are ignored."""
        for partition in partitions:
            part = self._parts.pop(partition, None)
            if part is not None:
                self._in_flight -= len(part.open)

    def partitions(self) -> list[P]:
        return list(self._parts)
