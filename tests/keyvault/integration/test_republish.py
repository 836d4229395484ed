"""Disaster recovery: `python -m keyvault republish` rebuilds keyvault.keys.v1 from the store
(real FerretDB and Kafka), here into a fresh topic as after the topic was lost."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from keyvault.settings import KeyvaultSettings
from shared.contracts import Topics
from shared.kafka import ensure_topics
from tests.keyvault.integration.conftest import new_keyring_entry, start
from tests.support.kafka import kafka_settings
from tests.support.topics import read_all

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


async def test_republish_rebuilds_the_keys_topic_from_the_store(
    settings_factory: Callable[..., KeyvaultSettings],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    mongo_url: str,
    db_name: str,
    unique: str,
) -> None:
    keyring = new_keyring_entry("v1")
    org = f"org-dr-{unique}"
    roomy = '{"starter": {"provider_keys": 10, "workspaces": 3}}'
    canaries = ["sk-ant-api03-" + secrets.token_urlsafe(24) for _ in range(3)]
    async with await start(
        settings_factory(keyvault_master_keys=keyring, flowtrux_plans=roomy), producer
    ) as kv:
        ids = []
        for n, secret in enumerate(canaries):
            created = await kv.create(org, "anthropic", f"k{n}", secret)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        gone = await kv.gateway.delete(f"/internal/v1/orgs/{org}/keys/{ids[0]}")
        assert gone.status_code == 204

    lost = f".dr{unique}"  # the topic "lost": a fresh, empty one
    await ensure_topics(kafka_settings(kafka_bootstrap), Topics(lost))
    env = {
        **os.environ,
        "KEYVAULT_MASTER_KEYS": keyring,
        "KEYVAULT_DB": db_name,
        "MONGODB_URL": mongo_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_SUFFIX": lost,
        "LOG_FORMAT": "text",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "keyvault",
        "republish",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:  # never leave it running (e.g. a CLI that serves instead)
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "republished 3 keys" in out.decode(), out.decode()
    records = await read_all(kafka_bootstrap, Topics(lost).keys, expect=3)
    assert set(records) == set(ids)
    assert records[ids[0]]["status"] == "deleted"
    assert {records[i]["status"] for i in ids[1:]} == {"active"}
    assert all(records[i]["org_id"] == org for i in ids)
    for secret in canaries:  # never a key in the output, the logs or the events
        assert secret not in out.decode() + err.decode() + str(records)
