"""The commit policy: which offset of each partition may be committed, and when to commit it.

Executions finish out of order; a partition is committed only up to the lowest offset not yet
finished. `OffsetTracker` is the pure bookkeeping for that; `CommitPolicy` feeds it, commits
what it returns with `consumer.commit({tp: offset})` every `RUNNER_COMMIT_INTERVAL_S`, on a
rebalance and at shutdown, and reports the lag.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from agent_runner.service import RunnerMetrics

log = logging.getLogger(__name__)

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


class CommitPolicy:
    """Commits every assigned partition up to its lowest unfinished offset, at most once per
    `interval_s` (unless forced), and keeps the lag gauge current."""

    def __init__(self, *, interval_s: float, metrics: RunnerMetrics) -> None:
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._interval_s = interval_s
        self._metrics = metrics
        self._consumer: AIOKafkaConsumer | None = None
        self._last_commit = 0.0

    def attach(self, consumer: AIOKafkaConsumer) -> None:
        """The consumer whose offsets this policy commits (set once it is created)."""
        self._consumer = consumer

    async def maybe_commit(self, *, force: bool = False) -> None:
        """Commit the assigned partitions' progress if the interval has passed (or `force`)."""
        now = time.monotonic()
        if not force and now - self._last_commit < self._interval_s:
            return
        self._last_commit = now
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        await self.commit([tp for tp in self.tracker.partitions() if tp in assigned])
        self._update_lag(consumer, assigned)

    async def commit(self, partitions: Iterable[TopicPartition]) -> None:
        """Commit the progress of `partitions`; a failed commit is retried by the next one."""
        offsets = self.tracker.committable(partitions)
        if not offsets or self._consumer is None:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # e.g. a rebalance in progress; the next commit retries
            log.warning("commit failed: %s", type(exc).__name__)
            return
        self.tracker.mark_committed(offsets)

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what revoked partitions finished, then forget them."""
        known = set(self.tracker.partitions())
        await self.commit([tp for tp in revoked if tp in known])
        self.tracker.forget(revoked)

    def _update_lag(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        lags: dict[str, int] = {}
        for tp in assigned:
            high = consumer.highwater(tp)
            point = self.tracker.commit_point(tp)
            if high is None or point is None:
                continue
            lags[tp.topic] = lags.get(tp.topic, 0) + max(0, high - point)
        for topic, lag in lags.items():
            self._metrics.set_consumer_lag(topic, lag)
