"""A canary key goes through create, list, resolve, errors and delete and leaks nowhere."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets

import bson
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from shared.crypto import new_recipient, open_sealed, seal_context
from tests.keyvault.integration.conftest import Running
from tests.support.kafka import kafka_options

pytestmark = pytest.mark.integration


async def drain(bootstrap: str, topics: tuple[str, ...]) -> list[bytes]:
    """Every key, value and header of every message on the topics."""
    consumer = AIOKafkaConsumer(
        **kafka_options(bootstrap), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in (consumer.partitions_for_topic(t) or set())
        ]
        if not tps:
            await consumer._client.force_metadata_update()
            tps = [
                TopicPartition(t, p)
                for t in topics
                for p in (consumer.partitions_for_topic(t) or set())
            ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        blobs: list[bytes] = []
        pending = {tp for tp, off in end.items() if off > 0}
        while pending:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    blobs += [record.key or b"", record.value or b""]
                    blobs += [v for _, v in record.headers]
                    if record.offset + 1 >= end[tp]:
                        pending.discard(tp)
        return blobs
    finally:
        await consumer.stop()


async def test_canary_key_never_leaks(
    kv: Running,
    unique: str,
    mongo_url: str,
    kafka_bootstrap: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    middle = f"CANARY{secrets.token_hex(8)}"
    canary = f"sk-ant-api03-{middle}-{secrets.token_urlsafe(16)}Zq9w"
    org, ws = f"org-c-{unique}", f"ws-c-{unique}"
    bodies: list[str] = []

    def keep(response: httpx.Response) -> httpx.Response:
        bodies.append(response.text)
        bodies.append(str(response.headers))
        return response

    created = keep(await kv.create(org, "anthropic", "canary", canary))
    assert created.status_code == 201
    key_id = created.json()["id"]
    assert created.json()["preview"] == "sk-ant-…Zq9w"
    keep(await kv.create(org, "anthropic", "canary", canary))  # name_taken
    keep(await kv.create(org, "anthropic", "spaced", canary + " x"))  # validation_error
    keep(await kv.create(org, "bogus", "bogus", canary))
    keep(await kv.create(org, "anthropic", "verify", canary, verify=True))  # provider unreachable
    keep(await kv.gateway.get(f"/internal/v1/orgs/{org}/keys"))
    keep(await kv.gateway.get(f"/internal/v1/orgs/{org}/keys/{key_id}"))
    await kv.assign(ws, org, [key_id])
    private, public = new_recipient()
    for _ in range(250):
        response = keep(await kv.resolve(org, ws, "anthropic", public, execution_id="ex-c"))
        if response.status_code == 200:
            break
        await asyncio.sleep(0.02)
    sealed = base64.b64decode(response.json()["sealed"])
    assert (
        open_sealed(private, sealed, seal_context(execution_id="ex-c", key_id=key_id)).decode()
        == canary
    )
    keep(await kv.gateway.patch(f"/internal/v1/orgs/{org}/keys/{key_id}", json={"name": "renamed"}))
    keep(await kv.gateway.get(f"/internal/v1/orgs/{org}/audit"))
    keep(await kv.gateway.delete(f"/internal/v1/orgs/{org}/keys/{key_id}"))
    keep(await kv.resolve(org, ws, "anthropic", public))

    needles = (canary, middle, canary[:20], canary[-16:])
    text_needles = [n.encode() for n in needles]
    for body in bodies:
        for needle in needles:
            assert needle not in body

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    try:
        db = client[kv.settings.keyvault_db]
        raw = b""
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                raw += bson.encode(doc)
        key_doc = await db["keys"].find_one({"_id": key_id})
    finally:
        await client.close()
    assert raw, "nothing was stored?"
    assert key_doc is not None
    assert key_doc["status"] == "deleted"
    assert "ciphertext" not in key_doc
    assert "wrapped_dek" not in key_doc
    for raw_needle in text_needles:
        assert raw_needle not in raw

    for _ in range(100):  # the delete event is published before the answer, but wait for it
        blobs = await drain(kafka_bootstrap, kv.settings.topics.compacted())
        if any(b'"deleted"' in b for b in blobs):
            break
        await asyncio.sleep(0.05)
    assert any(key_id.encode() in b for b in blobs)
    for blob in blobs:
        for raw_needle in text_needles:
            assert raw_needle not in blob

    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err
    logs += "".join(str(r.__dict__) for r in caplog.records)
    for needle in needles:
        assert needle not in logs
