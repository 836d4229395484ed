"""Kafka helpers shared by the services: topic creation and compacted-topic read models."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts.topics import Topics

log = logging.getLogger(__name__)

COMPACTED_CONFIG = {
    "cleanup.policy": "compact",
    "min.cleanable.dirty.ratio": "0.1",
    "segment.ms": "3600000",
}


async def ensure_topics(
    bootstrap: str, topics: Topics, *, partitions: int = 6, replication: int = 1
) -> None:
    """Create the contract's topics if missing (compacted ones as compacted); idempotent."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for name in topics.all():
            if name in existing:
                continue
            config = COMPACTED_CONFIG if name in topics.compacted() else {}
            wanted.append(NewTopic(name, partitions, replication, topic_configs=dict(config)))
        for topic in wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
    finally:
        await admin.close()


RecordHandler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]


class StateTopicReader:
    """Reads a compacted topic from the beginning with no consumer group, forever.

    `caught_up` is set once every partition has been read up to the end offsets seen at
    start, so a read model is complete before the service answers from it.
    """

    def __init__(self, bootstrap: str, topic: str, handler: RecordHandler) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._handler = handler
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.caught_up = asyncio.Event()

    async def start(self) -> None:
        # Subscribed without a group, the consumer is assigned every partition of the topic
        # as soon as it knows the topic's metadata (public API only).
        consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        await consumer.start()
        tps: list[TopicPartition] = []
        for _ in range(50):
            tps = sorted(consumer.assignment(), key=lambda tp: tp.partition)
            if tps:
                break
            await asyncio.sleep(0.1)
        if not tps:
            await consumer.stop()
            raise RuntimeError(f"topic {self._topic} has no partitions; was it created?")
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(end), name=f"state-reader:{self._topic}")

    async def _run(self, end: dict[TopicPartition, int]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        pending = {tp: off for tp, off in end.items() if off > 0}
        if not pending:
            self.caught_up.set()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            for tp, records in batches.items():
                for record in records:
                    try:
                        await self._handler(record)
                    except Exception:
                        log.exception("state record on %s offset %s skipped", tp, record.offset)
                    if tp in pending and record.offset + 1 >= pending[tp]:
                        del pending[tp]
            if not pending and not self.caught_up.is_set():
                self.caught_up.set()

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The running consumer (for its lag), None before `start`."""
        return self._consumer

    async def wait_caught_up(self, seconds: float = 30.0) -> None:
        async with asyncio.timeout(seconds):
            await self.caught_up.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
