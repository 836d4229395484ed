"""Reading a whole topic from the beginning (tests of what was published)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer

from tests.support.kafka import kafka_options


async def read_all(
    bootstrap: str, topic: str, *, expect: int, timeout_s: float = 30
) -> dict[str, Any]:
    """The last value per record key of `topic`, once at least `expect` keys were seen."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    latest: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout_s):
            while len(latest) < expect:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        key = record.key.decode() if record.key else ""
                        latest[key] = json.loads(record.value) if record.value else None
    finally:
        await consumer.stop()
    return latest
