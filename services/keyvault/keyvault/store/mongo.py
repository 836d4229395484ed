"""MongoDB repository (PyMongo async): single-document atomic operations only, no transactions."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bson.binary import Binary
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

from keyvault.domain import (
    AuditEntry,
    EncryptedSecret,
    NameTakenError,
    PlanLimitReachedError,
    ProviderKey,
    StoreUnavailableError,
    name_slot,
)
from shared.contracts import utcnow
from shared.mongo import (
    is_duplicate_write_error,
    is_transient,
    is_unique_violation,
    write_error_transient,
)

log = logging.getLogger(__name__)
Doc = dict[str, Any]
X = TypeVar("X")
# A slot whose key never appeared (crash between slot and key insert) is reclaimed after this.
STALE_SLOT_AFTER = timedelta(seconds=60)
_SECRET_FIELDS = {"kek_version": "", "wrapped_dek": "", "ciphertext": ""}


def _key(doc: Doc) -> ProviderKey:
    return ProviderKey(
        id=doc["_id"],
        org_id=doc["org_id"],
        provider=doc["provider"],
        name=doc["name"],
        preview=doc["preview"],
        status=doc["status"],
        created_at=doc["created_at"],
        created_by=doc["created_by"],
        last_used_at=doc.get("last_used_at"),
        rev=doc.get("rev", 1),
    )


def _secret(doc: Doc) -> EncryptedSecret:
    return EncryptedSecret(
        kek_version=doc["kek_version"],
        wrapped_dek=bytes(doc["wrapped_dek"]),
        ciphertext=bytes(doc["ciphertext"]),
    )


def _audit(doc: Doc) -> AuditEntry:
    return AuditEntry(
        at=doc["at"],
        org_id=doc["org_id"],
        key_id=doc["key_id"],
        action=doc["action"],
        actor=doc["actor"],
        workspace_id=doc.get("workspace_id"),
        execution_id=doc.get("execution_id"),
        service=doc.get("service"),
        id=str(doc["_id"]),
    )


class MongoKeyStore:
    """Keys, quota slots and audit entries in keyvault's own database."""

    def __init__(
        self,
        url: str,
        db_name: str,
        *,
        retries: int = 5,
        backoff_base_s: float = 0.02,
        backoff_max_s: float = 0.3,
    ) -> None:
        self._client: AsyncMongoClient[Doc] = AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=5000
        )
        self._retries = retries
        self._backoff_base = backoff_base_s
        self._backoff_max = backoff_max_s
        self._db: AsyncDatabase[Doc] = self._client[db_name]
        self._keys = self._db["keys"]
        self._slots = self._db["slots"]
        self._audit = self._db["audit"]

    async def open(self) -> None:
        """Create indexes (idempotent)."""
        await self._keys.create_index(
            [("org_id", ASCENDING), ("name_slot", ASCENDING)], unique=True, name="org_name"
        )
        await self._keys.create_index(
            [("org_id", ASCENDING), ("created_at", ASCENDING)], name="org_created"
        )
        await self._keys.create_index([("kek_version", ASCENDING)], name="kek_version")
        await self._keys.create_index([("pending_event", ASCENDING)], name="pending_event")
        await self._slots.create_index([("org_id", ASCENDING)], name="org")
        await self._slots.create_index([("key_id", ASCENDING)], name="key")
        await self._audit.create_index([("org_id", ASCENDING), ("at", DESCENDING)], name="org_at")
        await self._audit.create_index(
            [("org_id", ASCENDING), ("key_id", ASCENDING), ("at", DESCENDING)], name="org_key_at"
        )

    async def close(self) -> None:
        await self._client.close()

    async def _retrying(self, op: Callable[[], Awaitable[X]], what: str) -> X:
        """Run `op`, retrying transient store errors with short jittered backoff.

        Only for operations that are safe to repeat (reads, idempotent writes). A transient
        failure that outlasts the retries becomes StoreUnavailableError (503, retryable).
        """
        attempt = 0
        while True:
            try:
                return await op()
            except PyMongoError as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                if attempt > self._retries:
                    log.warning(
                        "store busy: %s failed %d times (%s)", what, attempt, type(exc).__name__
                    )
                    raise StoreUnavailableError(
                        "keyvault's store is temporarily unavailable; retry shortly"
                    ) from None
                delay = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311

    async def ping(self) -> bool:
        await self._db.command("ping")
        return True

    # --- quota -----------------------------------------------------------------------

    async def acquire_slot(self, *, org_id: str, limit: int | None, key_id: str) -> None:
        if limit is None:
            return
        for _ in range(3):
            used = {d["slot"] async for d in self._slots.find({"org_id": org_id}, {"slot": 1})}
            if len(used) < limit:
                for slot in (n for n in range(limit) if n not in used):
                    try:
                        await self._slots.insert_one(
                            {
                                "_id": f"{org_id}#{slot}",
                                "org_id": org_id,
                                "slot": slot,
                                "key_id": key_id,
                                "at": utcnow(),
                            }
                        )
                        return
                    except DuplicateKeyError:
                        continue
            if not await self._reclaim_stale(org_id=org_id):
                break
        raise PlanLimitReachedError(
            f"the organization's plan allows {limit} provider keys; delete one or upgrade the plan"
        )

    async def _reclaim_stale(self, *, org_id: str) -> bool:
        slots = [d async for d in self._slots.find({"org_id": org_id})]
        live = {
            d["_id"]
            async for d in self._keys.find(
                {"_id": {"$in": [s["key_id"] for s in slots]}, "status": "active"}, {"_id": 1}
            )
        }
        cutoff = utcnow() - STALE_SLOT_AFTER
        reclaimed = False
        for slot in slots:
            if slot["key_id"] not in live and slot["at"] < cutoff:
                result = await self._slots.delete_one(
                    {"_id": slot["_id"], "key_id": slot["key_id"]}
                )
                reclaimed = reclaimed or result.deleted_count == 1
        return reclaimed

    async def release_slot(self, *, org_id: str, key_id: str) -> None:
        await self._slots.delete_many({"org_id": org_id, "key_id": key_id})

    # --- keys ------------------------------------------------------------------------

    async def insert_key(self, *, key: ProviderKey, secret: EncryptedSecret) -> None:
        doc: Doc = {
            "_id": key.id,
            "org_id": key.org_id,
            "provider": key.provider,
            "name": key.name,
            "name_slot": name_slot(key.name),
            "preview": key.preview,
            "status": key.status,
            "created_at": key.created_at,
            "created_by": key.created_by,
            "last_used_at": None,
            "rev": key.rev,
            "pending_event": True,
            "kek_version": secret.kek_version,
            "wrapped_dek": Binary(secret.wrapped_dek),
            "ciphertext": Binary(secret.ciphertext),
        }
        try:
            await self._keys.insert_one(doc)
        except DuplicateKeyError:
            raise NameTakenError(f"a provider key named {key.name!r} already exists") from None

    async def get_key(self, *, org_id: str, key_id: str) -> ProviderKey | None:
        doc = await self._retrying(
            lambda: self._keys.find_one({"_id": key_id, "org_id": org_id}), "key read"
        )
        return _key(doc) if doc else None

    async def list_keys(self, *, org_id: str, include_deleted: bool) -> list[ProviderKey]:
        query: Doc = {"org_id": org_id}
        if not include_deleted:
            query["status"] = "active"
        cursor = self._keys.find(query).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [_key(d) async for d in cursor]

    async def keys_by_ids(self, *, org_id: str, key_ids: list[str]) -> list[ProviderKey]:
        if not key_ids:
            return []
        return [key for key, _ in await self.key_material(org_id=org_id, key_ids=key_ids)]

    async def key_material(
        self, *, org_id: str, key_ids: list[str]
    ) -> list[tuple[ProviderKey, EncryptedSecret | None]]:
        if not key_ids:
            return []

        async def read() -> dict[str, Doc]:
            query = {"_id": {"$in": key_ids}, "org_id": org_id}
            return {d["_id"]: d async for d in self._keys.find(query)}

        found = await self._retrying(read, "key lookup")
        out: list[tuple[ProviderKey, EncryptedSecret | None]] = []
        for key_id in key_ids:
            doc = found.get(key_id)
            if doc is None:
                continue
            live = doc.get("status") == "active" and "ciphertext" in doc
            out.append((_key(doc), _secret(doc) if live else None))
        return out

    async def count_active(self, *, org_id: str) -> int:
        return await self._keys.count_documents({"org_id": org_id, "status": "active"})

    async def rename_key(self, *, org_id: str, key_id: str, name: str) -> ProviderKey | None:
        try:
            doc = await self._keys.find_one_and_update(
                {"_id": key_id, "org_id": org_id, "status": "active"},
                {
                    "$set": {"name": name, "name_slot": name_slot(name), "pending_event": True},
                    "$inc": {"rev": 1},
                },
                return_document=ReturnDocument.AFTER,
            )
        except OperationFailure as exc:
            if not is_unique_violation(exc):
                raise
            raise NameTakenError(f"a provider key named {name!r} already exists") from None
        return _key(doc) if doc else None

    async def replace_secret(
        self, *, org_id: str, key_id: str, preview: str, secret: EncryptedSecret
    ) -> ProviderKey | None:
        doc = await self._keys.find_one_and_update(
            {"_id": key_id, "org_id": org_id, "status": "active"},
            {
                "$set": {
                    "preview": preview,
                    "kek_version": secret.kek_version,
                    "wrapped_dek": Binary(secret.wrapped_dek),
                    "ciphertext": Binary(secret.ciphertext),
                    "pending_event": True,
                },
                "$inc": {"rev": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return _key(doc) if doc else None

    async def delete_key(self, *, org_id: str, key_id: str) -> ProviderKey | None:
        now = utcnow()
        doc = await self._keys.find_one_and_update(
            {"_id": key_id, "org_id": org_id, "status": "active"},
            {
                # The name slot moves aside so the name can be reused; the secret is shredded.
                "$set": {
                    "status": "deleted",
                    "deleted_at": now,
                    "name_slot": f"\x00deleted\x1f{key_id}",
                    "pending_event": True,
                },
                "$unset": _SECRET_FIELDS,
                "$inc": {"rev": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return _key(doc) if doc else None

    async def get_secret(self, *, org_id: str, key_id: str) -> EncryptedSecret | None:
        doc = await self._retrying(
            lambda: self._keys.find_one(
                {"_id": key_id, "org_id": org_id, "status": "active"},
                {"kek_version": 1, "wrapped_dek": 1, "ciphertext": 1},
            ),
            "secret read",
        )
        if not doc or "ciphertext" not in doc:
            return None
        return _secret(doc)

    async def touch_last_used(self, *, key_id: str, at: datetime) -> None:
        # $max is idempotent, so a retry after an ambiguous failure is harmless.
        await self._retrying(
            lambda: self._keys.update_one({"_id": key_id}, {"$max": {"last_used_at": at}}),
            "last_used_at update",
        )

    # --- audit -----------------------------------------------------------------------

    async def add_audit(self, *, entry: AuditEntry) -> None:
        await self.add_audits(entries=[entry])

    async def add_audits(self, *, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        # Ids are fixed before the first try, so a retry after an ambiguous failure cannot
        # record an entry twice: the copies already stored come back as duplicates.
        docs = [
            {
                "_id": uuid.uuid4().hex,
                "at": e.at,
                "org_id": e.org_id,
                "key_id": e.key_id,
                "action": e.action,
                "actor": e.actor,
                "workspace_id": e.workspace_id,
                "execution_id": e.execution_id,
                "service": e.service,
            }
            for e in entries
        ]

        async def insert() -> None:
            try:
                await self._audit.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                failed = [e for e in errors if not is_duplicate_write_error(e)]
                if errors and not failed:
                    return  # stored by an earlier try
                if errors and all(write_error_transient(e) for e in failed):
                    # Some entries did not make it for a transient reason: try them all again.
                    raise OperationFailure("database is locked", 1) from None
                raise

        await self._retrying(insert, "audit insert")

    async def list_audit(
        self,
        *,
        org_id: str,
        key_id: str | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[AuditEntry]:
        query: Doc = {"org_id": org_id}
        if key_id is not None:
            query["key_id"] = key_id
        if before is not None:
            at, last_id = before
            query["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": last_id}}]
        cursor = self._audit.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)])
        return [_audit(d) async for d in cursor.limit(limit)]

    # --- outbox ----------------------------------------------------------------------

    async def pending_events(self, *, limit: int) -> list[ProviderKey]:
        cursor = self._keys.find({"pending_event": True}).limit(limit)
        return [_key(d) async for d in cursor]

    async def mark_published(self, *, key_id: str, rev: int) -> None:
        await self._keys.update_one({"_id": key_id, "rev": rev}, {"$set": {"pending_event": False}})

    # --- rewrap ----------------------------------------------------------------------

    async def wrapped_not_at(
        self, *, version: str, limit: int, exclude: list[str] | None = None
    ) -> list[tuple[str, str, EncryptedSecret]]:
        query: Doc = {"status": "active", "kek_version": {"$ne": version}}
        if exclude:
            query["_id"] = {"$nin": exclude}
        cursor = self._keys.find(
            query, {"org_id": 1, "kek_version": 1, "wrapped_dek": 1, "ciphertext": 1}
        ).limit(limit)
        return [(d["_id"], d["org_id"], _secret(d)) async for d in cursor if "ciphertext" in d]

    async def swap_wrapped(
        self, *, key_id: str, old: EncryptedSecret, new_version: str, new_wrapped: bytes
    ) -> bool:
        result = await self._keys.update_one(
            {
                "_id": key_id,
                "status": "active",
                "kek_version": old.kek_version,
                "wrapped_dek": Binary(old.wrapped_dek),
            },
            {"$set": {"kek_version": new_version, "wrapped_dek": Binary(new_wrapped)}},
        )
        return result.modified_count == 1

    async def version_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for doc in self._keys.find({"status": "active"}, {"kek_version": 1}):
            version = doc.get("kek_version")
            if version:
                counts[version] = counts.get(version, 0) + 1
        return counts
