"""Kafka translation: publishes ProviderKeyChanged; feeds the read models from workspace topics.

The read models are fed by `shared.kafka.StateTopicReader`, not a FastStream subscriber: they
must be rebuilt from the beginning of the compacted topics on every start, with no consumer
group, and keyvault answers /readyz only once each reader has caught up with the end offsets
it saw at start. A FastStream subscriber exposes neither the assignment of every partition
without a group nor those end offsets, so it cannot tell when the model is complete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from keyvault.domain import AssignmentsView, PlansView, ProviderKey, ReadModelsBehindError
from keyvault.domain.budgets import Delivery
from keyvault.service.budgets import BudgetGuard
from shared.contracts import (
    REPUBLISHED_HEADER,
    ExecutionResult,
    OrgAlertRaised,
    OrgPlanChanged,
    ProviderKeyChanged,
    WorkspaceAssignmentsChanged,
)
from shared.kafka import (
    ReaderStoppedError,
    ReadFence,
    StateTopicReader,
    client_options,
    faststream_security,
    model_reader,
)
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


def key_changed(key: ProviderKey) -> ProviderKeyChanged:
    """The state event of a key: metadata only, never secret material."""
    return ProviderKeyChanged(
        key_id=key.id,
        org_id=key.org_id,
        provider=key.provider,
        name=key.name,
        preview=key.preview,
        status=key.status,
        created_at=key.created_at,
        created_by=key.created_by,
        budget_usd_monthly=key.budget_usd_monthly,
        expires_at=key.expires_at,
    )


class KafkaKeyEvents:
    """Publishes to the compacted keyvault.keys.v1 (key = key_id), acks from all replicas."""

    def __init__(self, kafka: KafkaSettings, topic: str, alerts_topic: str = "") -> None:
        self._topic = topic
        self._alerts_topic = alerts_topic
        self._producer = AIOKafkaProducer(
            **client_options(kafka), acks="all", enable_idempotence=True, linger_ms=0
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def ping(self) -> bool:
        await asyncio.wait_for(self._producer.partitions_for(self._topic), 3)
        return True

    async def publish(self, key: ProviderKey) -> None:
        body = key_changed(key).model_dump_json().encode()
        await asyncio.wait_for(
            self._producer.send_and_wait(self._topic, body, key=key.id.encode()), 10
        )

    async def publish_alert(self, alert: OrgAlertRaised) -> None:
        """An alert to org.alerts.v1 (key = org_id)."""
        body = alert.model_dump_json().encode()
        await asyncio.wait_for(
            self._producer.send_and_wait(self._alerts_topic, body, key=alert.org_id.encode()), 10
        )


SETTLE_RETRY_PAUSE_S = 1.0


def spend_broker(kafka: KafkaSettings, topic: str, group: str, guard: BudgetGuard) -> KafkaBroker:
    """Settles budget holds from agent.execution.result.v1 (group `keyvault-spend`).

    A plain FastStream batch subscriber: offsets are committed only after the batch is
    settled (NACK_ON_ERROR), and settling a result twice changes nothing (marker per org and
    execution, and the last settled offset of each partition), so redelivery is harmless.
    Each record goes to the guard with its place (group, topic, partition, offset) and the
    runner's mark of a result published again (`plan_settlement` says why).
    """
    servers = [s.strip() for s in kafka.kafka_bootstrap_servers.split(",") if s.strip()]
    broker = KafkaBroker(servers, security=faststream_security(kafka), logger=log)

    @broker.subscriber(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=500,
        # An idle subscriber waits this long and then sleeps as long again (FastStream): 100 ms
        # instead of 20 wakes it 5 times a second, not 25; a hold is released at most ~0.2 s later.
        batch_timeout_ms=100,
        # The broker holds a fetch until 1 MiB of results or 500 ms: a settlement batch (one
        # write per counter) then carries half a second of results, not the one or two that
        # arrive between polls at low rates. A hold is settled at most that much later; until
        # then it counts its conservative estimate (never less than the actual cost).
        fetch_min_bytes=1 << 20,
        fetch_max_wait_ms=500,
    )
    async def on_execution_results(msg: KafkaMessage) -> None:
        raw: Any = msg.raw_message
        records: Sequence[ConsumerRecord[bytes, bytes]] = raw if isinstance(raw, tuple) else (raw,)
        deliveries: list[Delivery] = []
        for record in records:
            if record.value is None:
                continue
            try:
                result = ExecutionResult.model_validate_json(record.value)
            except ValidationError:
                log.warning("invalid ExecutionResult skipped at offset %s", record.offset)
                continue
            deliveries.append(
                Delivery(
                    result=result,
                    stream=f"{group}|{record.topic}|{record.partition}",
                    offset=record.offset,
                    republished=(REPUBLISHED_HEADER, b"1") in (record.headers or ()),
                )
            )
        try:
            await guard.settle(deliveries)
        except Exception:
            await asyncio.sleep(SETTLE_RETRY_PAUSE_S)
            raise

    return broker


def assignments_reader(kafka: KafkaSettings, topic: str, view: AssignmentsView) -> StateTopicReader:
    """Keeps `view` current from workspace.assignments.v1 (from the start of the topic)."""
    return model_reader(
        kafka, topic, WorkspaceAssignmentsChanged, lambda e: e.workspace_id, view.apply
    )


def plans_reader(kafka: KafkaSettings, topic: str, view: PlansView) -> StateTopicReader:
    """Keeps `view` current from workspace.plans.v1 (from the start of the topic)."""
    return model_reader(kafka, topic, OrgPlanChanged, lambda e: e.org_id, view.apply)


class FencedReadModels:
    """keyvault's `Freshness`: the read models' fence, its refusals as ReadModelsBehindError."""

    def __init__(self, fence: ReadFence) -> None:
        self._fence = fence

    async def check(self) -> None:
        try:
            await self._fence.check()
        except ReaderStoppedError as exc:
            raise ReadModelsBehindError(
                f"keyvault's read models may be stale ({exc}); retry shortly"
            ) from None
