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
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLScram256, SASLScram512

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
    start, so a read model is complete before the service answers from it.
    """

    def __init__(self, kafka: KafkaSettings, topic: str, handler: RecordHandler) -> None:
        self._kafka = kafka
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
            **client_options(self._kafka),
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
