"""Fixtures for the real infrastructure.

Order: `KAFKA_BOOTSTRAP_SERVERS` / `MONGODB_URL` when set (what `make test` does); else
testcontainers when a Docker engine answers; else the test fails under `CI=true` (never
skips) and is skipped with a pointer to `make test` elsewhere.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

HINT = "run the suite with `make test`, which starts Kafka and FerretDB on loopback"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _missing(what: str) -> None:
    message = f"{what} is not available: {HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        host, _, port = configured.split(",")[0].rpartition(":")
        if not _reachable(host or "127.0.0.1", int(port)):
            _missing(f"Kafka at {configured}")
        yield configured
        return
    if _docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    _missing("Kafka (KAFKA_BOOTSTRAP_SERVERS unset, no Docker engine)")


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    """URL of a real MongoDB-wire server (FerretDB locally, MongoDB 7 in containers)."""
    configured = os.environ.get("MONGODB_URL")
    if configured:
        parsed = urlparse(configured)
        if not _reachable(parsed.hostname or "127.0.0.1", parsed.port or 27017):
            _missing(f"MongoDB at {configured}")
        yield configured
        return
    if _docker_available():
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:7") as mongo:
            yield mongo.get_connection_url()
        return
    _missing("MongoDB (MONGODB_URL unset, no Docker engine)")


@pytest.fixture
def unique() -> str:
    """A short random token for topic, database and id names, so tests never collide."""
    return secrets.token_hex(4)


@pytest.fixture
def topic_suffix(unique: str) -> str:
    """A per-test suffix appended to every topic name (KAFKA_TOPIC_SUFFIX)."""
    return f".t{unique}"


@pytest.fixture
def db_name(unique: str) -> str:
    return f"test_{unique}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `runs_last` (the canary scan) run after everything else collected, and
    those marked `runs_late` (hundreds of executions in the shared ledger, which slow the
    ledger reads of later tests on FerretDB) just before them."""

    def place(item: pytest.Item) -> int:
        if item.get_closest_marker("runs_last") is not None:
            return 2
        return 1 if item.get_closest_marker("runs_late") is not None else 0

    items.sort(key=place)
