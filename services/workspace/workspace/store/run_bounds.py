"""Test-run bounds in MongoDB: Idempotency-Key claims (unique per org and key) and per-org
fixed-window counters. One atomic single-document write each, so every gateway replica
shares them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure

from shared.mongo import is_unique_violation
from workspace.domain import IdempotencyClaim

Doc = dict[str, Any]


def _id(org_id: str, key: str) -> str:
    return f"{org_id}\x1f{key}"


def _claim(doc: Doc) -> IdempotencyClaim:
    return IdempotencyClaim(
        org_id=doc["org_id"],
        key=doc["key"],
        body_hash=doc["body_hash"],
        execution_id=doc["execution_id"],
        workspace_id=doc["workspace_id"],
        created_at=doc["created_at"].replace(tzinfo=UTC),
        expires_at=doc["expires_at"].replace(tzinfo=UTC),
    )


class MongoRunBoundsStore:
    """Collections `idempotency_claims` and `test_run_windows` of workspace's database."""

    def __init__(self, client: AsyncMongoClient[Doc], db_name: str) -> None:
        db = client[db_name]
        self.claims: AsyncCollection[Doc] = db["idempotency_claims"]
        self.windows: AsyncCollection[Doc] = db["test_run_windows"]

    async def open(self) -> None:
        # Expired claims and windows are garbage; reads already treat them as absent.
        await self.claims.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        await self.windows.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)

    async def find_claim(self, *, org_id: str, key: str) -> IdempotencyClaim | None:
        doc = await self.claims.find_one({"_id": _id(org_id, key)})
        return _claim(doc) if doc else None

    async def claim(self, *, claim: IdempotencyClaim, now: datetime) -> IdempotencyClaim:
        doc = {
            "org_id": claim.org_id,
            "key": claim.key,
            "body_hash": claim.body_hash,
            "execution_id": claim.execution_id,
            "workspace_id": claim.workspace_id,
            "created_at": claim.created_at,
            "expires_at": claim.expires_at,
        }
        ident = _id(claim.org_id, claim.key)
        for _ in range(3):
            try:
                await self.claims.insert_one({"_id": ident, **doc})
                return claim
            except DuplicateKeyError:
                pass
            except OperationFailure as exc:
                if not is_unique_violation(exc):
                    raise
            # Taken: by an expired claim (take it over, atomically) or a live one (it wins).
            taken_over = await self.claims.find_one_and_update(
                {"_id": ident, "expires_at": {"$lte": now}},
                {"$set": doc},
                return_document=ReturnDocument.AFTER,
            )
            if taken_over is not None:
                return claim
            existing = await self.claims.find_one({"_id": ident})
            if existing is not None:
                return _claim(existing)
            # Released in between: try the insert again.
        raise OperationFailure("idempotency claim kept changing under us")

    async def release(self, *, org_id: str, key: str, execution_id: str) -> None:
        await self.claims.delete_one({"_id": _id(org_id, key), "execution_id": execution_id})

    async def count_run(self, *, org_id: str, window_start: datetime, expires_at: datetime) -> int:
        ident = f"{org_id}\x1f{int(window_start.timestamp())}"
        for attempt in range(3):
            try:
                doc = await self.windows.find_one_and_update(
                    {"_id": ident},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except (DuplicateKeyError, OperationFailure) as exc:
                # Two first hits of a window raced on the upsert: the loser increments.
                if attempt == 2 or not (
                    isinstance(exc, DuplicateKeyError) or is_unique_violation(exc)
                ):
                    raise
                continue
            return int(doc["count"]) if doc else 1
        return 1  # pragma: no cover - the loop returns or raises
