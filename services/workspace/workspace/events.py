"""Kafka translation: state publishing, the keys read model, and the ledger subscribers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from shared.contracts import (
    Event,
    ExecutionRequested,
    ExecutionResult,
    OrgPlanChanged,
    ProviderKeyChanged,
    WorkspaceAssignmentsChanged,
)
from shared.kafka import StateTopicReader, client_options, faststream_security
from workspace.service import Ledger, WorkspaceService
from workspace.settings import WorkspaceSettings

log = logging.getLogger(__name__)

STORE_RETRY_PAUSE_S = 1.0


class KafkaStatePublisher:
    """Publishes the current state of orgs and workspaces to the compacted topics."""

    def __init__(self, settings: WorkspaceSettings) -> None:
        self.topics = settings.topics
        self.producer = AIOKafkaProducer(
            **client_options(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
        )
        self.started = False

    async def start(self) -> None:
        await self.producer.start()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            self.started = False
            await self.producer.stop()

    async def _send(self, topic: str, key: str, event: Event) -> None:
        await self.producer.send_and_wait(
            topic, value=event.model_dump_json().encode(), key=key.encode()
        )

    async def publish_assignments(self, event: WorkspaceAssignmentsChanged) -> None:
        await self._send(self.topics.assignments, event.workspace_id, event)

    async def publish_plan(self, event: OrgPlanChanged) -> None:
        await self._send(self.topics.plans, event.org_id, event)


def keys_reader(settings: WorkspaceSettings, service: WorkspaceService) -> StateTopicReader:
    """The read model of keyvault.keys.v1, rebuilt from the beginning on every start."""

    async def on_key_record(record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value is None:  # a tombstone: nothing to learn
            return
        try:
            event = ProviderKeyChanged.model_validate_json(record.value)
        except ValidationError:
            log.warning("invalid ProviderKeyChanged skipped at offset %s", record.offset)
            return
        await service.on_key_changed(event)

    return StateTopicReader(settings, settings.topics.keys, on_key_record)


BATCH_MAX_RECORDS = 1000
BATCH_WAIT_MS = 50
# The broker holds a fetch until this much has accumulated or FETCH_WAIT_MS has passed, so
# a batch (one insert and one rollup update) carries up to 200 ms of results instead of the
# one or two that arrive between polls at low rates; ingest lags by at most that much more.
FETCH_MIN_BYTES = 1 << 20
FETCH_WAIT_MS = 200

EventT = TypeVar("EventT", ExecutionResult, ExecutionRequested)
Handler = Callable[[KafkaMessage], Awaitable[None]]


def valid_events(
    records: Sequence[ConsumerRecord[bytes, bytes]], model: type[EventT]
) -> list[EventT]:
    """The valid events of a batch; an invalid record is logged and skipped, not the batch."""
    events: list[EventT] = []
    for record in records:
        if record.value is None:
            continue
        try:
            events.append(model.model_validate_json(record.value))
        except ValidationError:
            log.warning(
                "invalid %s skipped at %s[%s]@%s",
                model.__name__,
                record.topic,
                record.partition,
                record.offset,
            )
    return events


def _batch(msg: KafkaMessage) -> Sequence[ConsumerRecord[bytes, bytes]]:
    raw = msg.raw_message
    return raw if isinstance(raw, tuple) else (raw,)


def ledger_broker(
    settings: WorkspaceSettings,
    ledger: Ledger,
    *,
    ingest_lag: Callable[[float], None] | None = None,
) -> KafkaBroker:
    """Two batch subscribers in group workspace-ledger; each commits only after its write.

    A batch is written with one unordered insert, then the consumer's offsets are committed
    (at-least-once). A store failure (after the store's own bounded retries) rewinds every
    partition of the batch to its first record and the batch is read again; re-writing it
    is harmless because inserts of records already there are ignored.
    """
    # A list: FastStream takes a comma-separated string as one host.
    servers = [s.strip() for s in settings.kafka_bootstrap_servers.split(",") if s.strip()]
    broker = KafkaBroker(servers, security=faststream_security(settings), logger=log)
    topics = settings.topics

    def batches_of(topic: str) -> Callable[[Handler], Any]:
        # NACK_ON_ERROR: the offsets are committed only once the handler has returned.
        return broker.subscriber(
            topic,
            group_id=settings.ledger_group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            batch=True,
            max_records=BATCH_MAX_RECORDS,
            batch_timeout_ms=BATCH_WAIT_MS,
            fetch_min_bytes=FETCH_MIN_BYTES,
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )

    @batches_of(topics.execution_result)
    async def on_execution_results(msg: KafkaMessage) -> None:
        events = valid_events(_batch(msg), ExecutionResult)
        try:
            counted = await ledger.record_results(events)
        except Exception:
            await asyncio.sleep(STORE_RETRY_PAUSE_S)
            raise
        log.debug("results: %d received, %d newly counted", len(events), counted)
        if ingest_lag is not None:
            now = datetime.now(UTC)
            for event in events:
                ingest_lag(max(0.0, (now - event.occurred_at).total_seconds()))

    @batches_of(topics.execution_requested)
    async def on_execution_requests(msg: KafkaMessage) -> None:
        # The runner owns the DLQ for requests; the ledger just skips invalid ones.
        events = valid_events(_batch(msg), ExecutionRequested)
        try:
            await ledger.record_requests(events)
        except Exception:
            await asyncio.sleep(STORE_RETRY_PAUSE_S)
            raise

    return broker
