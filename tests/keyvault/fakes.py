"""In-memory twins of keyvault's stores, for unit tests."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

from keyvault.domain import (
    AuditEntry,
    EncryptedSecret,
    NameTakenError,
    ProviderKey,
    name_slot,
)


class InMemoryKeyStore:
    """Same behaviour as MongoKeyStore, held in dicts behind one lock."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.keys: dict[str, ProviderKey] = {}
        self.secrets: dict[str, EncryptedSecret] = {}
        self.pending: dict[str, bool] = {}
        self.slots: dict[str, set[str]] = {}
        self.audit: list[AuditEntry] = []

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def acquire_slot(self, *, org_id: str, limit: int | None, key_id: str) -> bool:
        async with self._lock:
            taken = self.slots.setdefault(org_id, set())
            if limit is not None and len(taken) >= limit:
                return False
            taken.add(key_id)
            return True

    async def release_slot(self, *, org_id: str, key_id: str) -> None:
        async with self._lock:
            self.slots.get(org_id, set()).discard(key_id)

    def _name_used(self, org_id: str, name: str, but: str | None = None) -> bool:
        return any(
            k.org_id == org_id
            and k.status == "active"
            and k.id != but
            and name_slot(k.name) == name_slot(name)
            for k in self.keys.values()
        )

    async def insert_key(self, *, key: ProviderKey, secret: EncryptedSecret) -> None:
        async with self._lock:
            if self._name_used(key.org_id, key.name):
                raise NameTakenError(f"a provider key named {key.name!r} already exists")
            self.keys[key.id] = key
            self.secrets[key.id] = secret
            self.pending[key.id] = True

    async def get_key(self, *, org_id: str, key_id: str) -> ProviderKey | None:
        key = self.keys.get(key_id)
        return key if key and key.org_id == org_id else None

    async def list_keys(self, *, org_id: str, include_deleted: bool) -> list[ProviderKey]:
        items = [
            k
            for k in self.keys.values()
            if k.org_id == org_id and (include_deleted or k.status == "active")
        ]
        return sorted(items, key=lambda k: (k.created_at, k.id))

    async def key_material(
        self, *, org_id: str, key_ids: list[str]
    ) -> list[tuple[ProviderKey, EncryptedSecret | None]]:
        keys = [k for i in key_ids if (k := self.keys.get(i)) and k.org_id == org_id]
        return [(k, self.secrets.get(k.id) if k.status == "active" else None) for k in keys]

    async def count_active(self, *, org_id: str) -> int:
        return len(await self.list_keys(org_id=org_id, include_deleted=False))

    async def rename_key(self, *, org_id: str, key_id: str, name: str) -> ProviderKey | None:
        async with self._lock:
            key = self.keys.get(key_id)
            if not key or key.org_id != org_id or key.status != "active":
                return None
            if self._name_used(org_id, name, but=key_id):
                raise NameTakenError(f"a provider key named {name!r} already exists")
            key = replace(key, name=name, rev=key.rev + 1)
            self.keys[key_id] = key
            self.pending[key_id] = True
            return key

    async def set_limits(
        self, *, org_id: str, key_id: str, changes: dict[str, float | datetime | None]
    ) -> ProviderKey | None:
        async with self._lock:
            key = self.keys.get(key_id)
            if not key or key.org_id != org_id or key.status != "active":
                return None
            key = replace(key, rev=key.rev + 1, **changes)  # type: ignore[arg-type]
            self.keys[key_id] = key
            self.pending[key_id] = True
            return key

    async def expiring_keys(self, *, before: datetime) -> list[ProviderKey]:
        return [
            k
            for k in self.keys.values()
            if k.status == "active" and k.expires_at is not None and k.expires_at <= before
        ]

    async def replace_secret(
        self, *, org_id: str, key_id: str, preview: str, secret: EncryptedSecret
    ) -> ProviderKey | None:
        async with self._lock:
            key = self.keys.get(key_id)
            if not key or key.org_id != org_id or key.status != "active":
                return None
            key = replace(key, preview=preview, rev=key.rev + 1)
            self.keys[key_id] = key
            self.secrets[key_id] = secret
            self.pending[key_id] = True
            return key

    async def delete_key(self, *, org_id: str, key_id: str) -> ProviderKey | None:
        async with self._lock:
            key = self.keys.get(key_id)
            if not key or key.org_id != org_id or key.status != "active":
                return None
            key = replace(key, status="deleted", rev=key.rev + 1)
            self.keys[key_id] = key
            self.secrets.pop(key_id, None)
            self.pending[key_id] = True
            return key

    async def touch_last_used(self, *, key_id: str, at: datetime) -> None:
        key = self.keys.get(key_id)
        if key and (key.last_used_at is None or key.last_used_at < at):
            self.keys[key_id] = replace(key, last_used_at=at)

    async def add_audit(self, *, entry: AuditEntry) -> None:
        await self.add_audits(entries=[entry])

    async def add_audits(self, *, entries: list[AuditEntry]) -> None:
        for entry in entries:
            self.audit.append(replace(entry, id=f"{len(self.audit):012d}"))

    async def prune_audit(self, *, before: datetime) -> int:
        kept = [e for e in self.audit if e.at >= before]
        pruned, self.audit = len(self.audit) - len(kept), kept
        return pruned

    async def list_audit(
        self,
        *,
        org_id: str,
        key_id: str | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[AuditEntry]:
        items = sorted(
            (
                e
                for e in self.audit
                if e.org_id == org_id
                and (key_id is None or e.key_id == key_id)
                and (before is None or (e.at, e.id) < before)
            ),
            key=lambda e: (e.at, e.id),
            reverse=True,
        )
        return items[:limit]

    async def pending_events(self, *, limit: int) -> list[ProviderKey]:
        return [self.keys[k] for k, flag in self.pending.items() if flag][:limit]

    async def mark_all_pending(self) -> int:
        for key_id in self.keys:
            self.pending[key_id] = True
        return len(self.keys)

    async def mark_published(self, *, key_id: str, rev: int) -> None:
        if self.keys[key_id].rev == rev:
            self.pending[key_id] = False

    async def wrapped_not_at(
        self, *, version: str, limit: int, exclude: list[str] | None = None
    ) -> list[tuple[str, str, EncryptedSecret]]:
        skip = set(exclude or ())
        out = [
            (k, self.keys[k].org_id, s)
            for k, s in self.secrets.items()
            if s.kek_version != version and k not in skip
        ]
        return out[:limit]

    async def swap_wrapped(
        self, *, key_id: str, old: EncryptedSecret, new_version: str, new_wrapped: bytes
    ) -> bool:
        async with self._lock:
            if self.secrets.get(key_id) != old:
                return False
            self.secrets[key_id] = replace(old, kek_version=new_version, wrapped_dek=new_wrapped)
            return True

    async def version_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for secret in self.secrets.values():
            counts[secret.kek_version] = counts.get(secret.kek_version, 0) + 1
        return counts

    def raw(self) -> dict[str, Any]:
        """Everything held, for tests that look for leaked material."""
        return {"keys": self.keys, "secrets": self.secrets, "audit": self.audit}
