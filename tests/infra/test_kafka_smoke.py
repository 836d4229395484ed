"""Smoke tests proving the real broker: round trip, at-least-once redelivery, offsets kept."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from tests.support.kafka import broker_security, kafka_options

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


async def _create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def test_faststream_round_trip_with_group_and_ack_after_processing(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"smoke.roundtrip.{unique}", f"smoke-{unique}"
    await _create_topic(kafka_bootstrap, topic)
    received: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    broker = KafkaBroker(kafka_bootstrap, security=broker_security(kafka_bootstrap))

    @broker.subscriber(
        topic, group_id=group, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK
    )
    async def on_message(body: dict[str, str]) -> None:
        await received.put(body)

    async with broker:
        await broker.start()
        await broker.publish({"hello": unique}, topic, key=unique.encode())
        got = await asyncio.wait_for(received.get(), 30)
    assert got == {"hello": unique}

    # The group committed after processing: its offset is past the message.
    consumer = AIOKafkaConsumer(**kafka_options(kafka_bootstrap), group_id=group)
    await consumer.start()
    try:
        committed = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()
    assert committed == 1


async def test_consumer_killed_before_ack_gets_the_message_again(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"smoke.crash.{unique}", f"smoke-crash-{unique}"
    await _create_topic(kafka_bootstrap, topic)
    producer = AIOKafkaProducer(**kafka_options(kafka_bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topic, f"work-{unique}".encode())
    finally:
        await producer.stop()

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("crashing_consumer.py")),
        kafka_bootstrap,
        topic,
        group,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = b""
        async with asyncio.timeout(60):
            while not line.startswith(b"GOT"):
                line = await proc.stdout.readline()
                assert line, "the crashing consumer exited before receiving the message"
        assert line.strip() == f"GOT work-{unique}".encode()
    finally:
        proc.kill()  # SIGKILL: a crash, nothing acknowledged
        await proc.wait()

    redelivered: asyncio.Queue[str] = asyncio.Queue()
    broker = KafkaBroker(kafka_bootstrap, security=broker_security(kafka_bootstrap))

    @broker.subscriber(
        topic, group_id=group, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK
    )
    async def on_message(body: str) -> None:
        await redelivered.put(body)

    async with broker:
        await broker.start()
        assert await asyncio.wait_for(redelivered.get(), 60) == f"work-{unique}"


def _infra(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(ROOT / "deploy/local/infra.sh"), *args], check=True, env=env, timeout=180)


async def test_broker_restart_keeps_committed_offsets(unique: str, tmp_path: Path) -> None:
    """A private broker (its own ports and data) is stopped and started mid-test."""
    port, controller = 19092, 19093
    env = {
        **os.environ,
        "LOCAL_INSTANCE": f"restart-{unique}",
        "LOCAL_KAFKA_PORT": str(port),
        "LOCAL_KAFKA_CONTROLLER_PORT": str(controller),
        "LOCAL_KAFKA_HEAP": "384m",
    }
    bootstrap = f"127.0.0.1:{port}"
    topic, group = f"smoke.restart.{unique}", f"smoke-restart-{unique}"
    await asyncio.to_thread(_infra, "up", "kafka", env=env)
    try:
        await _create_topic(bootstrap, topic)
        producer = AIOKafkaProducer(**kafka_options(bootstrap))
        await producer.start()
        for i in range(5):
            await producer.send_and_wait(topic, f"m{i}".encode())
        await producer.stop()

        consumer = AIOKafkaConsumer(
            topic,
            **kafka_options(bootstrap),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        seen: list[bytes] = []
        async with asyncio.timeout(60):
            while len(seen) < 3:
                for records in (
                    await consumer.getmany(timeout_ms=500, max_records=3 - len(seen))
                ).values():
                    seen.extend(r.value for r in records if r.value is not None)
        await consumer.commit({TopicPartition(topic, 0): 3})
        await consumer.stop()

        await asyncio.to_thread(_infra, "down", "kafka", env=env)
        await asyncio.to_thread(_infra, "up", "kafka", env=env)

        consumer = AIOKafkaConsumer(
            topic,
            **kafka_options(bootstrap),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            rest: list[bytes] = []
            async with asyncio.timeout(60):
                while len(rest) < 2:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        rest.extend(r.value for r in records if r.value is not None)
        finally:
            await consumer.stop()
        assert seen == [b"m0", b"m1", b"m2"]
        assert rest == [b"m3", b"m4"]
    finally:
        await asyncio.to_thread(_infra, "down", "kafka", env=env)
        await asyncio.to_thread(_infra, "purge", "kafka", env=env)
