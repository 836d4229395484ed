"""The dead-letter strategy: a request that can never be processed goes to the DLQ as received.

Requests that fail validation are dead-lettered at once (retrying cannot fix them; `x-error`
gives field paths and messages, never the offending values), and valid requests whose
infrastructure errors outlasted `RUNNER_INFRA_RETRIES` retries (`consumer.py`; `x-error` gives
the tries and the last error, scrubbed). The record keeps its key, value and headers.
"""

from __future__ import annotations

import logging

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from agent_runner.events.publisher import KafkaPublisher
from agent_runner.service import RunnerMetrics
from shared.logging import redact

log = logging.getLogger(__name__)


def invalid_reason(exc: ValidationError) -> str:
    """Why a request was refused: field paths and messages, never the offending values."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "message"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return redact("invalid ExecutionRequested: " + "; ".join(parts))[:1000]


class DeadLetter:
    """Sends a record to the requests' DLQ topic with its reason in the `x-error` header."""

    def __init__(self, publisher: KafkaPublisher, *, topic: str, metrics: RunnerMetrics) -> None:
        self._publisher = publisher
        self._topic = topic
        self._metrics = metrics

    async def send(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        producer = self._publisher.producer
        if producer is None:
            raise RuntimeError("start() first")
        headers = [(k, v) for k, v in (record.headers or ()) if k != "x-error"]
        headers.append(("x-error", reason.encode()))
        await producer.send_and_wait(
            self._topic, key=record.key, value=record.value, headers=headers
        )
        self._metrics.dead_lettered.inc()
        log.warning("request at offset %s dead-lettered: %s", record.offset, reason)
