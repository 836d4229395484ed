"""Topics: created with the configured replication in dev; never created in prod."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.contracts import Topics
from shared.kafka import MissingTopicsError, client_options, ensure_topics
from tests.support.kafka import kafka_settings

pytestmark = pytest.mark.integration


async def test_prod_never_creates_a_missing_topic(kafka_bootstrap: str, unique: str) -> None:
    kafka = kafka_settings(kafka_bootstrap, kafka_topic_suffix=f".prod{unique}")
    topics = kafka.topics
    with pytest.raises(MissingTopicsError) as err:
        await ensure_topics(kafka, topics, names=[topics.plans], create=False)
    message = str(err.value)
    assert topics.plans in message
    assert "never creates topics" in message
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        assert topics.plans not in await admin.list_topics()
    finally:
        await admin.close()


async def test_created_topics_take_the_replication_settings(
    kafka_bootstrap: str, unique: str
) -> None:
    kafka = kafka_settings(
        kafka_bootstrap,
        kafka_topic_suffix=f".rf{unique}",
        kafka_replication_factor=1,
        kafka_min_insync_replicas=1,
    )
    topics: Topics = kafka.topics
    await ensure_topics(kafka, topics, names=[topics.keys, topics.execution_result])
    await ensure_topics(kafka, topics, names=[topics.keys], create=False)  # now it exists
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics.keys)]
        )
        entries = {e[0]: e[1] for e in described[0].resources[0][4]}
        assert entries["min.insync.replicas"] == "1"
        assert entries["cleanup.policy"] == "compact"
    finally:
        await admin.close()
