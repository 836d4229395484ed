"""Kafka translation: state publishing, the keys read model, and the ledger subscribers."""

from __future__ import annotations

import asyncio
import logging

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
from shared.kafka import StateTopicReader
from workspace.domain import Ledger, WorkspaceService
from workspace.settings import WorkspaceSettings

log = logging.getLogger(__name__)

STORE_RETRY_PAUSE_S = 1.0


class KafkaStatePublisher:
    """Publishes the current state of orgs and workspaces to the compacted topics."""

    def __init__(self, settings: WorkspaceSettings) -> None:
        self.topics = settings.topics
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
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

    return StateTopicReader(settings.kafka_bootstrap_servers, settings.topics.keys, on_key_record)


def ledger_broker(settings: WorkspaceSettings, ledger: Ledger) -> KafkaBroker:
    """Two subscribers in group workspace-ledger; each commits only after its write."""
    broker = KafkaBroker(settings.kafka_bootstrap_servers, logger=log)
    topics = settings.topics

    # Acknowledge (commit) after the write; a store failure rewinds and retries.
    @broker.subscriber(
        topics.execution_result,
        group_id=settings.ledger_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_execution_result(msg: KafkaMessage) -> None:
        try:
            event = ExecutionResult.model_validate_json(msg.body)
        except ValidationError:
            log.warning("invalid ExecutionResult skipped (not counted)")
            return
        try:
            recorded = await ledger.record_result(event)
        except Exception:
            await asyncio.sleep(STORE_RETRY_PAUSE_S)
            raise
        log.debug(
            "result %s",
            "recorded" if recorded else "duplicate",
            extra={"execution_id": event.execution_id},
        )

    # Acknowledge (commit) after the write; a store failure rewinds and retries.
    @broker.subscriber(
        topics.execution_requested,
        group_id=settings.ledger_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_execution_requested(msg: KafkaMessage) -> None:
        try:
            event = ExecutionRequested.model_validate_json(msg.body)
        except ValidationError:
            # The runner owns the DLQ for requests; the ledger just moves on.
            log.warning("invalid ExecutionRequested skipped")
            return
        try:
            await ledger.record_requested(event)
        except Exception:
            await asyncio.sleep(STORE_RETRY_PAUSE_S)
            raise

    return broker
