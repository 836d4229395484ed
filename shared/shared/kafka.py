"""Kafka helpers shared by the services: connection options, topics, state-topic read models.

Every Kafka client of the project (aiokafka producers, consumers and admin clients, and
FastStream brokers) is built from `KafkaSettings` through `client_options` or
`faststream_security`, so KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_CAFILE reach
all of them (CONTRACT § Kafka in production).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from pydantic import BaseModel

from shared.contracts.topics import Topics
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

COMPACTED_CONFIG = {
    "cleanup.policy": "compact",
    "min.cleanable.dirty.ratio": "0.1",
    "segment.ms": "3600000",
}


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: bootstrap servers, SASL and TLS."""
    protocol = kafka.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.kafka_bootstrap_servers,
        "security_protocol": protocol,
    }
    if protocol.startswith("SASL_"):
        password = kafka.kafka_sasl_password
        options["sasl_mechanism"] = kafka.kafka_sasl_mechanism
        options["sasl_plain_username"] = kafka.kafka_sasl_username
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    if protocol in ("SSL", "SASL_SSL"):
        cafile = str(kafka.kafka_ssl_cafile) if kafka.kafka_ssl_cafile else None
        options["ssl_context"] = create_ssl_context(cafile=cafile)
    return options


def faststream_security(kafka: KafkaSettings) -> BaseSecurity | None:
    """The same connection settings for a FastStream `KafkaBroker(security=...)`."""
    protocol = kafka.kafka_security_protocol
    use_ssl = protocol in ("SSL", "SASL_SSL")
    context = None
    if use_ssl:
        cafile = str(kafka.kafka_ssl_cafile) if kafka.kafka_ssl_cafile else None
        context = create_ssl_context(cafile=cafile)
    if protocol.startswith("SASL_"):
        password = kafka.kafka_sasl_password
        sasl = SASLScram512 if kafka.kafka_sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
        return sasl(
            kafka.kafka_sasl_username or "",
            password.get_secret_value() if password else "",
            ssl_context=context,
            use_ssl=use_ssl,
        )
    if use_ssl:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None


class MissingTopicsError(RuntimeError):
    """FLOWTRUX_ENV=prod never creates topics; the message names the missing ones."""


async def ensure_topics(
    kafka: KafkaSettings,
    topics: Topics,
    *,
    names: Iterable[str] | None = None,
    partitions: int = 6,
    create: bool = True,
) -> None:
    """Check (and, unless `create` is false, create) the topics a service uses; idempotent.

    Created topics take KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS (compacted ones
    are compacted). With `create=False` (prod) a missing topic raises MissingTopicsError
    instead of being auto-created with whatever defaults the broker has.
    """
    wanted_names = list(names) if names is not None else list(topics.all())
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted_names if name not in existing]
        if missing and not create:
            raise MissingTopicsError(
                "Kafka topic(s) missing: " + ", ".join(missing) + ". FLOWTRUX_ENV=prod never "
                "creates topics: create them (6 partitions, replication factor "
                f"{kafka.kafka_replication_factor}, min.insync.replicas "
                f"{kafka.kafka_min_insync_replicas}; compacted: {', '.join(topics.compacted())}) "
                "or check this principal's DESCRIBE ACLs"
            )
        for name in missing:
            config = dict(COMPACTED_CONFIG) if name in topics.compacted() else {}
            config["min.insync.replicas"] = str(kafka.kafka_min_insync_replicas)
            topic = NewTopic(name, partitions, kafka.kafka_replication_factor, topic_configs=config)
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
    finally:
        await admin.close()


RecordHandler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]


class StateTopicReader:
    """Reads a compacted topic from the beginning with no consumer group, forever.

    `caught_up` is set once every partition has been read up to the end offsets seen at
    start, so a read model is complete before the service answers from it. `positions`
    says how far the handler has applied each partition (the next offset), so a `ReadFence`
    can tell whether the read model has seen everything written before a given moment. If
    the reading task dies (an error of the consumer, or cancelled by anything but `stop()`),
    it is restarted from the beginning of the topic after `restart_delay_s`; the read model
    is rebuilt (records are applied again, which is idempotent) and the fence waits for it.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        handler: RecordHandler,
        *,
        restart_delay_s: float = 1.0,
    ) -> None:
        self._kafka = kafka
        self.topic = topic
        self.handler = handler
        self._restart_delay_s = restart_delay_s
        self._supervisor: asyncio.Task[None] | None = None
        self.task: asyncio.Task[None] | None = None
        """The current reading task (None between a death and its restart)."""
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = False
        self.positions: dict[int, int] = {}
        self._progress = asyncio.Event()
        self.caught_up = asyncio.Event()

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    async def start(self) -> None:
        await self._start_reading()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"supervise:{self.topic}")

    async def _start_reading(self) -> None:
        # Subscribed without a group, the consumer is assigned every partition of the topic
        # as soon as it knows the topic's metadata (public API only).
        consumer = AIOKafkaConsumer(
            self.topic,
            **client_options(self._kafka),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # The broker answers a waiting fetch as soon as a record arrives, so a longer wait
            # delays nothing; it only makes an idle reader ask 2 times a second, not 10.
            fetch_max_wait_ms=500,
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
            raise RuntimeError(f"topic {self.topic} has no partitions; was it created?")
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        self.positions = {tp.partition: 0 for tp in tps}
        self._consumer = consumer
        self.task = asyncio.create_task(self._run(consumer, end), name=f"state-reader:{self.topic}")

    async def _supervise(self) -> None:
        while not self._stopping:
            task = self.task
            if task is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(task)
            if self._stopping:
                return
            log.error("state reader of %s stopped; restarting it", self.topic)
            self.task = None
            await self._close_consumer()
            await asyncio.sleep(self._restart_delay_s)
            try:
                await self._start_reading()
            except Exception:
                log.exception("state reader of %s could not restart", self.topic)

    async def _run(self, consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> None:
        pending = {tp: off for tp, off in end.items() if off > 0}
        if not pending:
            self.caught_up.set()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            for tp, records in batches.items():
                for record in records:
                    try:
                        await self.handler(record)
                    except Exception:
                        log.exception("state record on %s offset %s skipped", tp, record.offset)
                    self.positions[tp.partition] = record.offset + 1
                    if tp in pending and record.offset + 1 >= pending[tp]:
                        del pending[tp]
            for tp in end:
                # Past compacted-away records and control records too (no gap keeps a fence
                # waiting): the consumer's own position, once the handler applied the batch.
                self.positions[tp.partition] = max(
                    self.positions.get(tp.partition, 0), await consumer.position(tp)
                )
            self._progress.set()
            self._progress = asyncio.Event()
            if not pending and not self.caught_up.is_set():
                self.caught_up.set()

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The running consumer (for its lag), None before `start`."""
        return self._consumer

    async def wait_applied(self, end: dict[int, int]) -> None:
        """Return once every partition's applied position reached `end` (partition -> offset)."""
        while any(self.positions.get(p, 0) < off for p, off in end.items()):
            if not self.alive:
                raise ReaderStoppedError(f"the reader of {self.topic} is not running")
            progress = self._progress
            await progress.wait()

    async def wait_caught_up(self, seconds: float = 30.0) -> None:
        async with asyncio.timeout(seconds):
            await self.caught_up.wait()

    async def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._supervisor, self.task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._close_consumer()


M = TypeVar("M", bound=BaseModel)


def model_reader(
    kafka: KafkaSettings,
    topic: str,
    model: type[M],
    key_of: Callable[[M], str],
    apply: Callable[[str, M | None], None],
) -> StateTopicReader:
    """A reader applying every record of a compacted topic to a read model: `apply(key_of(
    event), event)`, and `apply(record key, None)` for a tombstone. A record that is not a
    valid `model` is logged and skipped by the reader."""

    async def on_record(record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value is None:
            apply((record.key or b"").decode(), None)
            return
        event = model.model_validate_json(record.value)
        apply(key_of(event), event)

    return StateTopicReader(kafka, topic, on_record)


class ReaderStoppedError(RuntimeError):
    """A state-topic reader is dead or behind, so its read model may be stale."""


class ReadFence:
    """Proves that read models have applied everything written to their topics before now.

    `check()` fetches the topics' end offsets (one request, shared by every caller that
    arrived before it started) and waits until each reader has applied up to them, for at
    most `timeout_s`. A dead reader, an unreachable broker or a reader still behind after
    the timeout raise ReaderStoppedError: a caller answers "not ready, retry" instead of
    trusting a read model that may miss a revocation (fail closed).
    """

    def __init__(
        self, kafka: KafkaSettings, readers: list[StateTopicReader], *, timeout_s: float = 1.0
    ) -> None:
        self._kafka = kafka
        self._readers = readers
        self._timeout_s = timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._snapshot: tuple[float, dict[TopicPartition, int]] | None = None
        self._inflight: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            **client_options(self._kafka), group_id=None, enable_auto_commit=False
        )
        await self._consumer.start()

    async def stop(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel()
            with contextlib.suppress(BaseException):
                await self._inflight
        if self._consumer is not None:
            await self._consumer.stop()

    def status(self) -> dict[str, bool]:
        """Reader topic -> whether its reading task runs (for readiness)."""
        return {r.topic: r.alive and r.caught_up.is_set() for r in self._readers}

    async def check(self) -> None:
        """Return once every reader is current as of this call; else ReaderStoppedError."""
        stopped = [r.topic for r in self._readers if not r.alive]
        if stopped:
            raise ReaderStoppedError(f"the reader of {', '.join(stopped)} is not running")
        arrival = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(self._timeout_s):
                end = await self._end_offsets_after(arrival)
                for reader in self._readers:
                    await reader.wait_applied(
                        {tp.partition: off for tp, off in end.items() if tp.topic == reader.topic}
                    )
        except TimeoutError:
            behind = [r.topic for r in self._readers]
            raise ReaderStoppedError(
                f"the readers of {', '.join(behind)} did not catch up within {self._timeout_s} s"
            ) from None
        except ReaderStoppedError:
            raise
        except Exception as exc:
            raise ReaderStoppedError(f"end offsets unavailable: {type(exc).__name__}") from None

    async def _end_offsets_after(self, arrival: float) -> dict[TopicPartition, int]:
        while True:
            snapshot = self._snapshot
            if snapshot is not None and snapshot[0] >= arrival:
                return snapshot[1]
            if self._inflight is None:
                self._inflight = asyncio.create_task(self._fetch())
            await asyncio.shield(self._inflight)

    async def _fetch(self) -> None:
        consumer = self._consumer
        try:
            if consumer is None:
                raise ReaderStoppedError("the fence is not started")
            started = asyncio.get_running_loop().time()
            tps = [TopicPartition(r.topic, p) for r in self._readers for p in sorted(r.positions)]
            self._snapshot = (started, await consumer.end_offsets(tps))
        finally:
            self._inflight = None
