"""Fetch and dispatch: many executions in flight, each its own task, with backpressure.

The loop fetches at most as many records as there are free slots (`RUNNER_CONCURRENCY`),
hands each new offset to a task (parse → `ExecutionHandler.handle`, or the dead-letter
strategy), and lets the commit policy commit below the lowest unfinished offset. An
infrastructure error (store, publish) is retried with capped backoff `RUNNER_INFRA_RETRIES`
times, and in any case until `RUNNER_KEY_WAIT_S` after the request was picked up
(`domain.infra_retry_wait_s`), then the request goes to the DLQ with the reason in
`x-error` and its offset finishes: a partition's commit point never waits forever. Each
request's task records when it was picked up (`domain.picked_up_at`), so the key wait and
this bound count from the same moment across retries. A waiting request holds only its own
slot (`RUNNER_CONCURRENCY`): the partition's other requests, other orgs' included, run in the
other slots; only its commit point waits. A rebalance
waits (bounded) for the revoked partitions' work; SIGTERM stops fetching, finishes in-flight
work within the grace period and abandons the rest uncommitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from opentelemetry import trace
from pydantic import ValidationError

from agent_runner import domain
from agent_runner.events.dead_letter import DeadLetter, invalid_reason
from agent_runner.events.offsets import CommitPolicy
from agent_runner.service import ExecutionHandler, RunnerMetrics
from agent_runner.settings import RunnerSettings
from shared.contracts import ExecutionRequested
from shared.kafka import client_options
from shared.logging import redact
from shared.tracing import EXECUTION, consuming

log = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: RequestConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("assigned %d partitions", len(assigned))


class RequestConsumer:
    """The fetch → handle → commit loop of one runner process."""

    def __init__(
        self,
        settings: RunnerSettings,
        *,
        handler: ExecutionHandler,
        dead_letter: DeadLetter,
        commits: CommitPolicy,
        metrics: RunnerMetrics,
    ) -> None:
        self._s = settings
        self._handler = handler
        self._dead_letter = dead_letter
        self._commits = commits
        self._started_offset = commits.tracker.started
        self._finished_offset = commits.tracker.finished
        self._metrics = metrics
        self._infra = domain.InfraRetryPolicy(
            retries=settings.runner_infra_retries,
            backoff_base_s=settings.runner_infra_backoff_base_s,
            backoff_max_s=settings.runner_infra_backoff_max_s,
            at_least_s=settings.runner_key_wait_s,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_partition: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._slot = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.started = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        s = self._s
        self._consumer = AIOKafkaConsumer(
            **client_options(s),
            group_id=s.runner_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.runner_concurrency,
            fetch_max_wait_ms=50,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
            max_poll_interval_ms=300_000,
        )
        self._commits.attach(self._consumer)
        self._consumer.subscribe([s.topics.execution_requested], listener=_Rebalance(self))
        await self._consumer.start()
        self._loop_task = asyncio.create_task(self._run(), name="runner-fetch-loop")
        self.started.set()

    # ---------------------------------------------------------------- fetch and dispatch

    async def _run(self) -> None:
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("start() first")
        limit = self._s.runner_concurrency
        commits = self._commits
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
                    await commits.maybe_commit()
                    continue
                if consumer.paused():
                    consumer.resume(*consumer.paused())
                batches = await consumer.getmany(timeout_ms=100, max_records=room)
                self._dispatch(batches)
                await commits.maybe_commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fetch loop error; continuing")
                await asyncio.sleep(0.5)

    def _dispatch(self, batches: dict[TopicPartition, list[Record]]) -> None:
        started = self._started_offset
        for tp, records in batches.items():
            for record in records:
                if started(tp, record.offset):
                    task = asyncio.create_task(self._work(tp, record))
                    self._tasks.add(task)
                    self._by_partition.setdefault(tp, set()).add(task)
        self._metrics.in_flight.set(len(self._tasks))

    async def _work(self, tp: TopicPartition, record: Record) -> None:
        task = asyncio.current_task()
        domain.picked_up_at.set(time.monotonic())  # this task's own context
        try:
            await self._retrying(record)
            self._finished_offset(tp, record.offset)
        finally:
            if task is not None:
                self._tasks.discard(task)
                self._by_partition.get(tp, set()).discard(task)
            self._slot.set()

    async def _retrying(self, record: Record) -> None:
        """Process one record: an invalid one is dead-lettered; a valid one is handled, with
        infrastructure errors retried (bounded), then dead-lettered with the last error."""
        with consuming(record.topic, record.headers):
            await self._process(record)

    async def _process(self, record: Record) -> None:
        try:
            request = ExecutionRequested.model_validate_json(record.value or b"")
        except ValidationError as exc:
            await self._dead_letter_surely(record, invalid_reason(exc))
            return
        trace.get_current_span().set_attribute(EXECUTION, request.execution_id)
        failures = 0
        picked_up = domain.picked_up_at.get() or time.monotonic()
        while True:
            try:
                await self._handler.handle(request)
                return
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                if self._stopping:
                    raise
                failures += 1
                error = redact(f"{type(exc).__name__}: {exc}")[:300]
                wait = domain.infra_retry_wait_s(
                    failures, policy=self._infra, waited_s=time.monotonic() - picked_up
                )
                if wait is None:
                    reason = domain.infra_dead_letter_reason(failures, error)
                    await self._dead_letter_surely(record, reason)
                    return
                log.warning(
                    "processing offset %s failed (%s); retry %d of %d%s in %.2f s",
                    record.offset,
                    error,
                    failures,
                    self._infra.retries,
                    " (until RUNNER_KEY_WAIT_S)" if failures > self._infra.retries else "",
                    wait,
                )
                await asyncio.sleep(wait)

    async def _dead_letter_surely(self, record: Record, reason: str) -> None:
        """Send to the DLQ, retrying at the capped backoff until sent (or shutdown): while
        Kafka refuses the DLQ it refuses commits too, so nothing is skipped unrecorded."""
        failures = 0
        while True:
            try:
                await self._dead_letter.send(record, reason)
                return
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                if self._stopping:
                    raise
                failures += 1
                log.warning(
                    "dead-lettering offset %s failed (%s); retrying",
                    record.offset,
                    redact(f"{type(exc).__name__}: {exc}")[:300],
                )
                await asyncio.sleep(min(self._infra.backoff_max_s, 0.2 * 2 ** min(failures, 8)))

    # ---------------------------------------------------------------- rebalance and shutdown

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let revoked partitions' in-flight work finish (bounded), commit it, forget them.

        Waiting here keeps the next owner from re-executing what this process is about to
        finish; what does not finish in time is left uncommitted and redelivered.
        """
        running = set().union(*(self._by_partition.get(tp, set()) for tp in revoked))
        if running and not self._stopping:
            await asyncio.wait(running, timeout=self._s.runner_revoke_wait_s)
        await self._commits.revoked(revoked)
        for tp in revoked:
            self._by_partition.pop(tp, None)
        log.info("revoked %d partitions", len(revoked))

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
                await self._commits.maybe_commit(force=True)
            await self._consumer.stop()
