"""Smoke tests proving the real MongoDB-wire store through PyMongo's AsyncMongoClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(mongo_url: str, db_name: str) -> AsyncIterator[AsyncDatabase[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    try:
        yield client[db_name]
    finally:
        await client.drop_database(db_name)
        await client.close()


async def test_idempotent_upsert_counts_once(db: AsyncDatabase[dict[str, object]]) -> None:
    coll = db["ledger"]
    for _ in range(3):
        await coll.update_one(
            {"_id": "exec-1"}, {"$setOnInsert": {"tokens": 12, "status": "succeeded"}}, upsert=True
        )
    assert await coll.count_documents({}) == 1
    doc = await coll.find_one({"_id": "exec-1"})
    assert doc == {"_id": "exec-1", "tokens": 12, "status": "succeeded"}


async def test_unique_index_violation_is_refused(db: AsyncDatabase[dict[str, object]]) -> None:
    coll = db["keys"]
    await coll.create_index([("org_id", 1), ("name", 1)], unique=True)
    await coll.insert_one({"org_id": "org-a", "name": "prod"})
    await coll.insert_one({"org_id": "org-b", "name": "prod"})
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"org_id": "org-a", "name": "prod"})
    assert await coll.count_documents({"org_id": "org-a"}) == 1


async def test_conditional_increment_stops_at_the_limit(
    db: AsyncDatabase[dict[str, object]],
) -> None:
    # Sequential only: FerretDB 1.x does not make concurrent conditional updates atomic,
    # which is why the services enforce limits with unique-index slot inserts instead.
    coll = db["quota"]
    await coll.insert_one({"_id": "org-a", "used": 2})
    first = await coll.find_one_and_update(
        {"_id": "org-a", "used": {"$lt": 3}},
        {"$inc": {"used": 1}},
        return_document=ReturnDocument.AFTER,
    )
    second = await coll.find_one_and_update(
        {"_id": "org-a", "used": {"$lt": 3}},
        {"$inc": {"used": 1}},
        return_document=ReturnDocument.AFTER,
    )
    assert first is not None
    assert first["used"] == 3
    assert second is None


async def test_reads_writes_and_deletes_by_id_use_the_id_index(
    db: AsyncDatabase[dict[str, object]],
) -> None:
    """deploy/local/ferretdb/patch.sh: FerretDB 1.24.2 filtered by `_id` with another SQLite
    expression than its `_id` index's, so every `_id` lookup scanned the table. The store the
    project runs searches the index, with the same answers (string and ObjectId `_id`s)."""
    from bson import ObjectId

    coll = db["by_id"]
    oid = ObjectId()
    await coll.insert_many([{"_id": f"org-a|e{i}", "n": i} for i in range(200)] + [{"_id": oid}])
    reply = await db.command(
        "explain", {"find": "by_id", "filter": {"_id": "org-a|e7"}, "limit": 1}
    )
    plan = str(reply.get("queryPlanner"))
    if "ferretdbVersion" in reply.get("serverInfo", {}):
        assert "USING INDEX" in plan, plan
    else:  # MongoDB itself
        assert "COLLSCAN" not in plan, plan
    assert await coll.find_one({"_id": "org-a|e7"}) == {"_id": "org-a|e7", "n": 7}
    assert await coll.find_one({"_id": oid}) == {"_id": oid}
    assert await coll.find_one({"_id": "org-a|e999"}) is None
    await coll.update_one({"_id": "org-a|e8"}, {"$set": {"n": -8}})
    assert await coll.find_one({"_id": "org-a|e8"}) == {"_id": "org-a|e8", "n": -8}
    assert (await coll.delete_one({"_id": "org-a|e9"})).deleted_count == 1
    assert await coll.count_documents({}) == 200
