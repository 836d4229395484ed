"""Kafka translation: publish test executions, and resolve waiters from the result topic.

Every gateway replica reads `agent.execution.result.v1` with no consumer group: it assigns
itself all partitions and starts at the end, so each replica sees every result and resolves
the waiters it holds in memory, whichever replica published the request.

Why aiokafka directly and not a FastStream subscriber: the end offset of every partition must
be pinned before the first request is published, or a result that arrives between the
publish and the subscriber's first (lazy) position lookup would be skipped and its waiter
would time out; the gateway also starts and answers 503 while Kafka is down, reconnecting in
the background. A FastStream subscriber resolves its position lazily and owns its start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from gateway.domain import BusUnavailableError, ReadModelsBehindError, WorkspaceModelsView
from shared.contracts import (
    ExecutionRequested,
    ExecutionResult,
    ProviderKeyChanged,
    Topics,
    WorkspaceAssignmentsChanged,
)
from shared.kafka import ReaderStoppedError, ReadFence, client_options, model_reader
from shared.settings import KafkaSettings
from shared.tracing import EXECUTION, consuming, producing

log = logging.getLogger(__name__)


class Waiters:
    """In-memory futures by (org id, execution id); a duplicate result is harmless.

    Execution ids are scoped by org: another org's result with the same id (a workflow
    engine's, say) never resolves this org's waiter.
    """

    def __init__(self) -> None:
        self._futures: dict[tuple[str, str], list[asyncio.Future[ExecutionResult]]] = {}
        # Execution ids waited for (any org): most results are not ours, and a record's
        # Kafka key (the execution id) says so without parsing it.
        self._ids: collections.Counter[str] = collections.Counter()

    def add(self, org_id: str, execution_id: str) -> asyncio.Future[ExecutionResult]:
        future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
        futures = self._futures.setdefault((org_id, execution_id), [])
        if not futures:
            self._ids[execution_id] += 1
        futures.append(future)
        return future

    def awaits(self, execution_id: str) -> bool:
        """Whether some org's execution with this id is waited for."""
        return execution_id in self._ids

    def _forget(self, key: tuple[str, str]) -> None:
        self._futures.pop(key, None)
        self._ids[key[1]] -= 1
        if self._ids[key[1]] <= 0:
            del self._ids[key[1]]

    def discard(
        self, org_id: str, execution_id: str, future: asyncio.Future[ExecutionResult]
    ) -> None:
        key = (org_id, execution_id)
        futures = self._futures.get(key, [])
        if future in futures:
            futures.remove(future)
        if not futures and key in self._futures:
            self._forget(key)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._futures

    def resolve(self, result: ExecutionResult) -> None:
        key = (result.org_id, result.execution_id)
        futures = self._futures.get(key, [])
        if futures:
            self._forget(key)
        for future in futures:
            if not future.done():
                future.set_result(result)

    def __len__(self) -> int:
        return len(self._futures)

    async def wait(
        self,
        org_id: str,
        execution_id: str,
        seconds: float,
        publish: Callable[[], Awaitable[None]],
    ) -> ExecutionResult | None:
        """Register first, then publish, so a fast result can never be missed."""
        future = self.add(org_id, execution_id)
        try:
            await publish()
            if seconds <= 0:
                return None
            try:
                return await asyncio.wait_for(asyncio.shield(future), seconds)
            except TimeoutError:
                return None
        finally:
            self.discard(org_id, execution_id, future)


class KafkaExecutionBus:
    """The real bus. Connects in the background so the gateway starts while Kafka is down."""

    def __init__(self, kafka: KafkaSettings, topics: Topics, *, timeout_s: float = 5.0) -> None:
        self._kafka = kafka
        self._topics = topics
        self._timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.waiters = Waiters()

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The results consumer while connected (for its lag), else None."""
        return self._consumer

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-results")
        # Give a healthy broker the chance to be ready before the first request.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), self._timeout_s * 2)

    async def _connect(self) -> None:
        producer = AIOKafkaProducer(
            **client_options(self._kafka),
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=int(self._timeout_s * 1000),
            linger_ms=0,
        )
        consumer = AIOKafkaConsumer(
            **client_options(self._kafka),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=50,
            request_timeout_ms=int(max(self._timeout_s, 5) * 1000) + 1000,
        )
        try:
            await producer.start()
            await consumer.start()
            topic = self._topics.execution_result
            # The producer's public metadata wait (bounded by its request timeout).
            partitions = await producer.partitions_for(topic)
            if not partitions:
                raise BusUnavailableError(f"topic {topic} has no partitions")
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:  # resolve the end offsets now, before any request is published
                await consumer.position(tp)
        except BaseException:
            await _stop_quietly(consumer, producer)
            raise
        self._producer, self._consumer = producer, consumer
        self._connected.set()

    async def _run(self) -> None:
        while self._consumer is None:
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("kafka not ready (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)
        consumer = self._consumer
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading results failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for record in records:
                    self._on_result(record.value, record.headers, record.key)

    def _on_result(
        self,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        key: bytes | None = None,
    ) -> None:
        if not value or not len(self.waiters):
            return
        if key is not None and not self.waiters.awaits(key.decode("utf-8", "replace")):
            return  # keyed by its execution id (the contract): not one waited for here
        try:
            result = ExecutionResult.model_validate_json(value)
        except ValidationError:
            log.warning("unreadable execution result skipped")
            return
        if (result.org_id, result.execution_id) not in self.waiters:
            return  # another replica's (or a workflow engine's) execution
        with consuming(self._topics.execution_result, headers, **{EXECUTION: result.execution_id}):
            self.waiters.resolve(result)

    async def ready(self) -> bool:
        if not self._connected.is_set() or self._consumer is None:
            return False
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._consumer.topics()
        except Exception:
            return False
        return True

    async def publish(self, request: ExecutionRequested) -> None:
        producer = self._producer
        if producer is None:
            raise BusUnavailableError("kafka is not connected")
        topic = self._topics.execution_requested
        try:
            async with asyncio.timeout(self._timeout_s):
                with producing(topic, **{EXECUTION: request.execution_id}) as headers:
                    await producer.send_and_wait(
                        topic,
                        value=request.model_dump_json().encode(),
                        key=request.execution_id.encode(),
                        headers=headers,
                    )
        except Exception as exc:
            raise BusUnavailableError(type(exc).__name__) from None

    async def wait_for(
        self,
        org_id: str,
        execution_id: str,
        seconds: float,
        publish: Callable[[], Awaitable[None]],
    ) -> ExecutionResult | None:
        return await self.waiters.wait(org_id, execution_id, seconds, publish)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await _stop_quietly(self._consumer, self._producer)
        self._consumer = self._producer = None


async def _stop_quietly(*clients: AIOKafkaConsumer | AIOKafkaProducer | None) -> None:
    for client in clients:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.stop()


# --- the read model of workspaces and keys -----------------------------------------------


class StateReadModels:
    """Feeds a WorkspaceModelsView from `workspace.assignments.v1` and `keyvault.keys.v1`.

    Group-less readers from the start of both compacted topics (as keyvault's), behind a
    `ReadFence`: `check()` passes only once both readers have applied the topics' end offsets
    fetched after the call began (one fetch shared by concurrent callers), within
    `timeout_s`. Connects in the background like the bus, so the gateway starts and stays
    ready while Kafka is down; until then, and while a reader is dead or behind, `check()`
    raises ReadModelsBehindError (the route answers 503, never stale data).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topics: Topics,
        view: WorkspaceModelsView,
        *,
        timeout_s: float = 0.5,
        start_wait_s: float = 10.0,
    ) -> None:
        self._kafka = kafka
        self._timeout_s = timeout_s
        self._start_wait_s = start_wait_s
        self.readers = [
            model_reader(
                kafka,
                topics.assignments,
                WorkspaceAssignmentsChanged,
                lambda e: e.workspace_id,
                view.apply_workspace,
            ),
            model_reader(
                kafka, topics.keys, ProviderKeyChanged, lambda e: e.key_id, view.apply_key
            ),
        ]
        self._fence: ReadFence | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="gateway-read-models")
        # A healthy broker: answer the first requests from a complete read model.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._started.wait()), self._start_wait_s)

    async def _connect(self) -> None:
        for reader in self.readers:
            while reader.task is None:
                try:
                    await reader.start()  # then its own supervisor restarts it if it dies
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("state topics not readable (%s); retrying", type(exc).__name__)
                    await asyncio.sleep(1.0)
        fence = ReadFence(self._kafka, self.readers, timeout_s=self._timeout_s)
        while self._fence is None:
            try:
                await fence.start()
                self._fence = fence
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("read fence not connected (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)
        for reader in self.readers:
            await reader.caught_up.wait()
        self._started.set()

    async def check(self) -> None:
        """Return once the view is current as of this call; else ReadModelsBehindError."""
        fence = self._fence
        if fence is None or not self._started.is_set():
            raise ReadModelsBehindError("the state topics are not read yet")
        try:
            await fence.check()
        except ReaderStoppedError as exc:
            raise ReadModelsBehindError(str(exc)) from None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._fence is not None:
            with contextlib.suppress(Exception):
                await self._fence.stop()
        for reader in self.readers:
            with contextlib.suppress(Exception):
                await reader.stop()
