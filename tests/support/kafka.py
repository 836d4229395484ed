"""Kafka connection settings for the tests' own clients (the same KAFKA_* settings as services).

Every producer, consumer and admin client a test or benchmark builds goes through these, so
the suite runs unchanged against a broker that requires SASL/TLS (KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_*, KAFKA_SSL_CAFILE from the environment).
"""

from __future__ import annotations

from typing import Any

from faststream.security import BaseSecurity

from shared.kafka import client_options, faststream_security
from shared.settings import KafkaSettings


def kafka_settings(bootstrap: str, **overrides: Any) -> KafkaSettings:
    """The environment's Kafka settings with `bootstrap` as the bootstrap servers."""
    return KafkaSettings(kafka_bootstrap_servers=bootstrap, **overrides)


def kafka_options(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """aiokafka client keyword arguments for `bootstrap` (SASL/TLS from the environment)."""
    return client_options(kafka_settings(bootstrap, **overrides))


def broker_security(bootstrap: str) -> BaseSecurity | None:
    """A FastStream broker's `security=` for `bootstrap` (SASL/TLS from the environment)."""
    return faststream_security(kafka_settings(bootstrap))
