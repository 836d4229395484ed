"""Audit and settled-marker retention on the real FerretDB, with a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from keyvault.app import run_prune, run_prune_settled
from keyvault.domain import AuditEntry
from keyvault.domain.budgets import Charge, to_nanos
from keyvault.settings import KeyvaultSettings
from keyvault.store import MongoBudgetStore, MongoKeyStore
from shared.contracts import utcnow

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def test_audit_entries_older_than_the_retention_are_pruned(
    mongo_url: str, db_name: str
) -> None:
    store = MongoKeyStore(mongo_url, db_name)
    await store.open()
    try:
        ages = {"key-old": 500, "key-edge": 401, "key-kept": 399, "key-new": 1}  # days
        await store.add_audits(
            entries=[
                AuditEntry(
                    at=NOW - timedelta(days=days),
                    org_id="org-a",
                    key_id=key_id,
                    action="resolved",
                    actor="agent-runner",
                )
                for key_id, days in ages.items()
            ]
        )
        settings = KeyvaultSettings(mongodb_url=mongo_url, keyvault_db=db_name)
        assert settings.keyvault_audit_retention_days == 400
        assert await run_prune(settings, now=NOW) == 2
        assert await run_prune(settings, now=NOW) == 0
        left = await store.list_audit(org_id="org-a", key_id=None, limit=10)
        assert [e.key_id for e in left] == ["key-new", "key-kept"]
        shorter = KeyvaultSettings(
            mongodb_url=mongo_url, keyvault_db=db_name, keyvault_audit_retention_days=30
        )
        assert await run_prune(shorter, now=NOW) == 1
    finally:
        await store.close()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
        await client.drop_database(db_name)
        await client.close()


async def test_settled_markers_older_than_their_retention_are_pruned(
    mongo_url: str, db_name: str
) -> None:
    """One marker per execution ever settled would grow without end; they are kept a day
    longer than the runner keeps the results it could publish again (14 days)."""
    budgets = MongoBudgetStore(mongo_url, db_name)
    await budgets.open()
    raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        await budgets.settle(
            [
                Charge(
                    org_id="org-a",
                    execution_id=f"e-{n}",
                    key_id="k1",
                    workspace_id="ws",
                    month="2026-12",
                    cost_nanos=to_nanos(0.01),
                )
                for n in range(2)
            ]
        )
        markers = raw[db_name]["budget_settled"]
        await markers.insert_one({"_id": "org-a|before-markers-had-a-time"})
        settings = KeyvaultSettings(mongodb_url=mongo_url, keyvault_db=db_name)
        assert settings.keyvault_settled_retention_days == 15
        now = utcnow()
        assert await run_prune_settled(settings, now=now + timedelta(days=14)) == 0
        legacy = await markers.find_one({"_id": "org-a|before-markers-had-a-time"})
        assert legacy is not None
        assert legacy["at"] >= now - timedelta(minutes=1)  # given the time of that prune
        assert await markers.count_documents({}) == 3
        assert await run_prune_settled(settings, now=now + timedelta(days=16)) == 3
        assert await markers.count_documents({}) == 0
    finally:
        await raw.close()
        await budgets.close()
