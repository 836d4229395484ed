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
from collections.abc import Callable
from typing import TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRecord

from keyvault.domain import AssignmentsView, PlansView, ProviderKey, ReadModelsBehindError
from shared.contracts import OrgPlanChanged, ProviderKeyChanged, WorkspaceAssignmentsChanged
from shared.kafka import ReaderStoppedError, ReadFence, StateTopicReader, client_options
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
    )


class KafkaKeyEvents:
    """Publishes to the compacted keyvault.keys.v1 (key = key_id), acks from all replicas."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self._topic = topic
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


E = TypeVar("E", WorkspaceAssignmentsChanged, OrgPlanChanged)


def _state_reader(
    kafka: KafkaSettings,
    topic: str,
    model: type[E],
    key_of: Callable[[E], str],
    apply: Callable[[str, E | None], None],
) -> StateTopicReader:
    """Applies every record of a compacted topic to a read model; a tombstone is None."""

    async def on_record(record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value is None:
            apply((record.key or b"").decode(), None)
            return
        event = model.model_validate_json(record.value)
        apply(key_of(event), event)

    return StateTopicReader(kafka, topic, on_record)


def assignments_reader(kafka: KafkaSettings, topic: str, view: AssignmentsView) -> StateTopicReader:
    """Keeps `view` current from workspace.assignments.v1 (from the start of the topic)."""
    return _state_reader(
        kafka, topic, WorkspaceAssignmentsChanged, lambda e: e.workspace_id, view.apply
    )


def plans_reader(kafka: KafkaSettings, topic: str, view: PlansView) -> StateTopicReader:
    """Keeps `view` current from workspace.plans.v1 (from the start of the topic)."""
    return _state_reader(kafka, topic, OrgPlanChanged, lambda e: e.org_id, view.apply)


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
