"""Pruning the runner's dedupe records on the real FerretDB, with a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from agent_runner.app import run_prune
from agent_runner.settings import RunnerSettings
from agent_runner.store import MongoDedupeStore
from tests.agent_runner.integration.test_dedupe_store import a_result

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def test_results_and_claims_past_the_retention_are_pruned_and_younger_ones_kept(
    mongo_url: str, db_name: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    store = MongoDedupeStore(client, db_name)
    try:
        await store.open()
        ages = {"old-1": 20, "old-2": 15, "young": 3}  # days
        for execution_id, days in ages.items():
            assert await store.claim(org_id="org-a", execution_id=execution_id) is None
            result = a_result(execution_id).model_copy(
                update={"occurred_at": NOW - timedelta(days=days)}
            )
            await store.put(result=result)
        # Claimed, no result (still running somewhere): its age is unknown, it stays.
        assert await store.claim(org_id="org-a", execution_id="running") is None

        settings = RunnerSettings(mongodb_url=mongo_url, runner_db=db_name)
        assert settings.runner_result_retention_s >= 7 * 86_400  # beyond any redelivery
        assert await run_prune(settings, now=NOW) == 2
        assert await run_prune(settings, now=NOW) == 0

        db = client[db_name]
        assert sorted([d["_id"] async for d in db["results"].find({}, {"_id": 1})]) == [
            "org-a/young"
        ]
        assert sorted([d["_id"] async for d in db["claims"].find({}, {"_id": 1})]) == [
            "org-a/running",
            "org-a/young",
        ]
        # A redelivery within the retention still gets its stored result, no second call.
        again = await store.claim(org_id="org-a", execution_id="young")
        assert again is not None
        assert again.execution_id == "young"
    finally:
        await client.drop_database(db_name)
        await store.close()
