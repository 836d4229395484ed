"""Kafka side: consume requests with many executions in flight, publish results, commit safely.

At least once on purpose: a partition is committed only up to the lowest offset whose result
is not yet published (`offsets.OffsetTracker`), so whatever order calls finish in, a crash
or a rebalance re-delivers everything unfinished and loses nothing. The loop is plain aiokafka
(manual `commit({tp: offset})`, a rebalance listener) because FastStream's subscriber options
acknowledge per message in handling order, which cannot express "commit below the lowest
unfinished offset" with hundreds of executions in flight on one partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from agent_runner.domain import DedupeStore
from agent_runner.executor import Executor
from agent_runner.metrics import RunnerMetrics
from agent_runner.offsets import OffsetTracker
from agent_runner.settings import RunnerSettings
from shared.contracts import ExecutionRequested, ExecutionResult
from shared.logging import redact

log = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


def invalid_reason(exc: ValidationError) -> str:
    """Why a request was refused: field paths and messages, never the offending values."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "message"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return redact("invalid ExecutionRequested: " + "; ".join(parts))[:1000]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: RequestConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("assigned %d partitions", len(assigned))


class RequestConsumer:
    """The fetch → execute → publish → commit loop of one runner process."""

    def __init__(
        self,
        settings: RunnerSettings,
        *,
        executor: Executor,
        store: DedupeStore,
        metrics: RunnerMetrics,
    ) -> None:
        self._s = settings
        self._executor = executor
        self._store = store
        self._metrics = metrics
        self._topics = settings.topics
        self._tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_partition: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._slot = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_commit = 0.0
        self.started = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        s = self._s
        # linger_ms=0: a result leaves at once (a 2 ms linger added ~2.3 ms to every result at
        # low load); under load, results still travel together while a send is in flight.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers, acks="all", linger_ms=0
        )
        await self._producer.start()
        # Topic metadata now, not on the first result of each partition (a first send waits
        # for a metadata round trip).
        await self._producer.partitions_for(self._topics.execution_result)
        await self._producer.partitions_for(self._topics.execution_requested_dlq)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=s.runner_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.runner_concurrency,
            fetch_max_wait_ms=50,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
            max_poll_interval_ms=300_000,
        )
        self._consumer.subscribe([self._topics.execution_requested], listener=_Rebalance(self))
        await self._consumer.start()
        self._loop_task = asyncio.create_task(self._run(), name="runner-fetch-loop")
        self.started.set()

    # ---------------------------------------------------------------- fetch loop

    async def _run(self) -> None:
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("start() first")
        limit = self._s.runner_concurrency
        while not self._stopping:
            try:
                room = limit - len(self._tasks)
                if room <= 0:
                    # Backpressure: stop fetching until a slot frees. If that takes long,
                    # pause the partitions and poll for nothing so the group keeps us.
                    self._slot.clear()
                    try:
                        await asyncio.wait_for(self._slot.wait(), 2.0)
                    except TimeoutError:
                        consumer.pause(*consumer.assignment())
                        self._dispatch(await consumer.getmany(timeout_ms=0))
                    await self._maybe_commit()
                    continue
                if consumer.paused():
                    consumer.resume(*consumer.paused())
                batches = await consumer.getmany(timeout_ms=100, max_records=room)
                self._dispatch(batches)
                await self._maybe_commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fetch loop error; continuing")
                await asyncio.sleep(0.5)

    def _dispatch(self, batches: dict[TopicPartition, list[Record]]) -> None:
        for tp, records in batches.items():
            for record in records:
                if self._tracker.started(tp, record.offset):
                    task = asyncio.create_task(self._work(tp, record))
                    self._tasks.add(task)
                    self._by_partition.setdefault(tp, set()).add(task)
        self._metrics.in_flight.set(len(self._tasks))

    async def _work(self, tp: TopicPartition, record: Record) -> None:
        task = asyncio.current_task()
        try:
            await self._handle(record)
            self._tracker.finished(tp, record.offset)
        finally:
            if task is not None:
                self._tasks.discard(task)
                self._by_partition.get(tp, set()).discard(task)
            self._slot.set()

    async def _handle(self, record: Record) -> None:
        """Process one record; infrastructure errors are retried until shutdown."""
        delay = 0.2
        while True:
            try:
                await self._process(record)
                return
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                if self._stopping:
                    raise
                log.warning(
                    "processing offset %s failed (%s); retrying",
                    record.offset,
                    redact(f"{type(exc).__name__}: {exc}")[:300],
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _process(self, record: Record) -> None:
        try:
            request = ExecutionRequested.model_validate_json(record.value or b"")
        except ValidationError as exc:
            await self._dead_letter(record, invalid_reason(exc))
            return
        # The dedupe claim and the key request run side by side; the provider is called only
        # once the claim shows this execution is new (see store.py). A redelivery thus costs
        # one audited key resolution that is never used, and no provider call.
        claim = asyncio.ensure_future(self._store.get(execution_id=request.execution_id))

        async def is_new() -> bool:
            return await asyncio.shield(claim) is None

        try:
            result = await self._executor.execute(request, proceed=is_new)
        except BaseException:
            claim.cancel()  # stops waiting only; a claim already sent is still written
            raise
        existing = await claim  # a store error fails this attempt; it is retried whole
        if existing is not None:
            self._metrics.redelivered.inc()
            await self._publish(existing)
            return
        if result is None:  # the claim said new, so the executor never declines
            raise RuntimeError("execution declined without a stored result")
        recorded = await self._store.put(result=result)
        await self._publish(recorded)
        code = recorded.error.code.value if recorded.error else ""
        self._metrics.executions.labels(recorded.status, recorded.provider or "", code).inc()

    async def _publish(self, result: ExecutionResult) -> None:
        if self._producer is None:
            raise RuntimeError("start() first")
        await self._producer.send_and_wait(
            self._topics.execution_result,
            key=result.execution_id.encode(),
            value=result.model_dump_json().encode(),
        )

    async def _dead_letter(self, record: Record, reason: str) -> None:
        if self._producer is None:
            raise RuntimeError("start() first")
        headers = [(k, v) for k, v in (record.headers or ()) if k != "x-error"]
        headers.append(("x-error", reason.encode()))
        await self._producer.send_and_wait(
            self._topics.execution_requested_dlq,
            key=record.key,
            value=record.value,
            headers=headers,
        )
        self._metrics.dead_lettered.inc()
        log.warning("request at offset %s dead-lettered: %s", record.offset, reason)

    # ---------------------------------------------------------------- commits

    async def _maybe_commit(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_commit < self._s.runner_commit_interval_s:
            return
        self._last_commit = now
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        await self._commit([tp for tp in self._tracker.partitions() if tp in assigned])
        self._update_lag(assigned)

    async def _commit(self, partitions: Iterable[TopicPartition]) -> None:
        offsets = self._tracker.committable(partitions)
        if not offsets or self._consumer is None:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # e.g. a rebalance in progress; the next commit retries
            log.warning("commit failed: %s", type(exc).__name__)
            return
        self._tracker.mark_committed(offsets)

    def _update_lag(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        lag = 0
        for tp in assigned:
            high = consumer.highwater(tp)
            point = self._tracker.commit_point(tp)
            if high is None or point is None:
                continue
            lag += max(0, high - point)
        self._metrics.consumer_lag.set(lag)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let revoked partitions' in-flight work finish (bounded), commit it, forget them.

        Waiting here keeps the next owner from re-executing what this process is about to
        finish; what does not finish in time is left uncommitted and redelivered.
        """
        running = set().union(*(self._by_partition.get(tp, set()) for tp in revoked))
        if running and not self._stopping:
            await asyncio.wait(running, timeout=self._s.runner_revoke_wait_s)
        await self._commit([tp for tp in revoked if tp in set(self._tracker.partitions())])
        self._tracker.forget(revoked)
        for tp in revoked:
            self._by_partition.pop(tp, None)
        log.info("revoked %d partitions", len(revoked))

    # ---------------------------------------------------------------- shutdown

    async def stop(self) -> None:
        """Stop fetching, finish in-flight work within the grace period, commit, leave."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._tasks:
            log.info("finishing %d executions in flight", len(self._tasks))
            _, pending = await asyncio.wait(
                set(self._tasks), timeout=self._s.runner_shutdown_grace_s
            )
            for task in pending:
                task.cancel()
            if pending:
                log.warning("abandoned %d executions without committing them", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._maybe_commit(force=True)
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
