"""The Kafka security settings reach every client option (aiokafka and FastStream)."""

from __future__ import annotations

import ssl

import pytest
from faststream.security import SASLScram512
from pydantic import ValidationError

from shared.kafka import client_options, faststream_security
from shared.settings import KafkaSettings


def test_plaintext_is_the_dev_default() -> None:
    options = client_options(KafkaSettings(kafka_bootstrap_servers="b:9092"))
    assert options == {"bootstrap_servers": "b:9092", "security_protocol": "PLAINTEXT"}
    assert faststream_security(KafkaSettings()) is None


def test_sasl_ssl_reaches_aiokafka_and_faststream() -> None:
    kafka = KafkaSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="keyvault",
        kafka_sasl_password="pw-0123456789",
    )
    options = client_options(kafka)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "keyvault"
    assert options["sasl_plain_password"] == "pw-0123456789"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    security = faststream_security(kafka)
    assert isinstance(security, SASLScram512)
    assert security.use_ssl
    assert "pw-0123456789" not in repr(kafka)


def test_sasl_without_credentials_is_refused_naming_the_settings() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        KafkaSettings(kafka_security_protocol="SASL_PLAINTEXT")


def test_min_insync_replicas_cannot_exceed_the_replication_factor() -> None:
    with pytest.raises(ValidationError, match="KAFKA_MIN_INSYNC_REPLICAS"):
        KafkaSettings(kafka_replication_factor=1, kafka_min_insync_replicas=2)
