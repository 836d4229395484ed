"""Test-run bounds in MongoDB: Idempotency-Key claims (unique per org and key) and per-org
fixed-window counters. One atomic single-document write each, so every gateway replica
shares them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
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
        self._next: dict[tuple[str, int], int] = {}  # (org, window) -> first n worth trying

    async def open(self) -> None:
        # Expired claims and windows are garbage, pruned periodically (`prune`; FerretDB has
        # no TTL indexes); reads already treat an expired claim as absent.
        await self.claims.create_index([("expires_at", ASCENDING)])
        await self.windows.create_index([("expires_at", ASCENDING)])

    async def prune(self, *, now: datetime) -> int:
        gone = await self.claims.delete_many({"expires_at": {"$lte": now}})
        old = await self.windows.delete_many({"expires_at": {"$lte": now}})
        return gone.deleted_count + old.deleted_count

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
            # Taken: by an expired claim (delete it and insert again: the unique `_id` still
            # decides between racing requests) or by a live one, which wins.
            existing = await self.claims.find_one({"_id": ident})
            if existing is not None and _claim(existing).live(now):
                return _claim(existing)
            if existing is not None:
                await self.claims.delete_one({"_id": ident, "expires_at": {"$lte": now}})
        raise OperationFailure("idempotency claim kept changing under us")

    async def release(self, *, org_id: str, key: str, execution_id: str) -> None:
        await self.claims.delete_one({"_id": _id(org_id, key), "execution_id": execution_id})

    async def take_run_slot(
        self, *, org_id: str, window_start: datetime, limit: int, expires_at: datetime
    ) -> bool:
        # One document per admitted run, `_id` = (org, window, n) with n in 1..limit: the
        # unique `_id` makes the count exact under any concurrency (an update-based counter
        # is not atomic on FerretDB), and a full window has no free n. Where to start looking
        # is remembered per process (other replicas' runs only cost a duplicate insert each),
        # so no request scans the collection.
        window = int(window_start.timestamp())
        prefix = f"{org_id}\x1f{window}\x1f"
        hint_key = (org_id, window)
        n = self._next.get(hint_key, 1)
        while n <= limit:
            try:
                await self.windows.insert_one({"_id": f"{prefix}{n}", "expires_at": expires_at})
            except DuplicateKeyError:
                n += 1
                continue
            except OperationFailure as exc:
                if not is_unique_violation(exc):
                    raise
                n += 1
                continue
            self._remember(hint_key, n + 1)
            return True
        self._remember(hint_key, n)
        return False

    def _remember(self, key: tuple[str, int], n: int) -> None:
        self._next[key] = max(n, self._next.get(key, 1))
        if len(self._next) > 10_000:  # old windows: forget the oldest half
            for old in sorted(self._next, key=lambda k: k[1])[: len(self._next) // 2]:
                del self._next[old]
