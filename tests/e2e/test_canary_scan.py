"""Runs last: no canary key created during the e2e suite appears in any log under
.local/logs, any message on any of the run's topics, any stored document, any span the
services exported or any response."""

from __future__ import annotations

import bson
import pytest
from pymongo import AsyncMongoClient

from tests.support.e2e import E2E, ENV_CANARIES, ROOT, read_topic

# After every other test, wherever its file sorts: it scans what they all left behind.
pytestmark = [pytest.mark.e2e, pytest.mark.runs_last]


def _hits(blob: bytes, canaries: set[str]) -> set[str]:
    return {c for c in canaries if c.encode() in blob}


async def _read_topic(bootstrap: str, topic: str) -> list[tuple[str, bytes]]:
    """Every message of `topic` from the beginning (key, headers and value as one blob)."""
    return [
        (
            f"{record.partition}@{record.offset}",
            (record.key or b"") + b"".join(v for _, v in record.headers) + (record.value or b""),
        )
        for record in await read_topic(bootstrap, topic)
    ]


async def test_no_canary_anywhere(e2e: E2E) -> None:
    canaries = set(e2e.canaries)
    assert len(canaries) >= 10, "the e2e journeys should have created canary keys first"
    env_canaries = set(ENV_CANARIES.values())
    found: dict[str, set[str]] = {}

    logs = sorted((ROOT / ".local" / "logs").glob("*.log"))
    assert any(p.name.startswith(e2e.log_prefix) for p in logs)
    for path in logs:
        hits = _hits(path.read_bytes(), canaries | env_canaries)
        if hits:
            found[f"log {path.name}"] = hits

    messages = 0
    for topic in e2e.topics.values():
        for key, blob in await _read_topic(e2e.bootstrap, topic):
            messages += 1
            hits = _hits(blob, canaries | env_canaries)
            if hits:
                found[f"topic {topic} message {key}"] = hits
    assert messages > 0

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(e2e.mongo_url)
    try:
        documents = 0
        for name in e2e.databases:
            db = client[name]
            for collection in await db.list_collection_names():
                async for document in db[collection].find({}):
                    documents += 1
                    hits = _hits(bson.encode(document), canaries)
                    if hits:
                        found[f"document {name}.{collection}"] = hits
        assert documents > 0
    finally:
        await client.close()

    assert e2e.collector is not None
    assert len(e2e.collector.spans()) > 0, "the services should have exported spans"
    hits = _hits(e2e.collector.raw(), canaries | env_canaries)
    if hits:
        found["exported spans"] = hits

    for index, body in enumerate(e2e.seen_bodies):
        hits = _hits(body, canaries | env_canaries)
        if hits:
            found[f"response #{index}"] = hits
    assert len(e2e.seen_bodies) > 50
    assert found == {}, f"canary keys leaked: {sorted(found)}"
