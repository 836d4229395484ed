"""The ports keyvault's use cases need; the store, the events, the clients implement them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from keyvault.domain.model import Assignment, AuditEntry, EncryptedSecret, ProviderKey
from shared.contracts import ProviderId
from shared.crypto import SecretValue


class Keyring(Protocol):
    """Versioned key-encryption keys; a KMS can implement the same three methods."""

    @property
    def active_version(self) -> str: ...

    def wrap(self, dek: bytes, *, aad_for: str) -> tuple[str, bytes]:
        """Wrap a data key under the active version; `aad_for` is the key id."""
        ...

    def unwrap(self, version: str, wrapped: bytes, *, aad_for: str) -> bytes:
        """Unwrap a data key wrapped by `version`; raises DecryptionFailedError."""
        ...

    def versions(self) -> tuple[str, ...]: ...


class KeyStore(Protocol):
    """Persistence of keys, secrets, quota slots and audit entries."""

    async def open(self) -> None:
        """Connect and create indexes."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def acquire_slot(self, *, org_id: str, limit: int | None, key_id: str) -> bool:
        """Take one of the org's `limit` key slots for `key_id`; False when all are taken."""
        ...

    async def release_slot(self, *, org_id: str, key_id: str) -> None: ...

    async def insert_key(self, *, key: ProviderKey, secret: EncryptedSecret) -> None:
        """Store a new key; NameTakenError when an active key of the org has the name."""
        ...

    async def get_key(self, *, org_id: str, key_id: str) -> ProviderKey | None: ...

    async def list_keys(self, *, org_id: str, include_deleted: bool) -> list[ProviderKey]: ...

    async def key_material(
        self, *, org_id: str, key_ids: list[str]
    ) -> list[tuple[ProviderKey, EncryptedSecret | None]]:
        """The org's keys among `key_ids` (in that order), each live one with its encrypted
        secret, in one read."""
        ...

    async def count_active(self, *, org_id: str) -> int: ...

    async def rename_key(self, *, org_id: str, key_id: str, name: str) -> ProviderKey | None: ...

    async def replace_secret(
        self, *, org_id: str, key_id: str, preview: str, secret: EncryptedSecret
    ) -> ProviderKey | None:
        """Swap a live key's value (ciphertext, wrapped data key, preview) in place."""
        ...

    async def delete_key(self, *, org_id: str, key_id: str) -> ProviderKey | None:
        """Mark deleted and remove the wrapped data key and ciphertext in one update."""
        ...

    async def touch_last_used(self, *, key_id: str, at: datetime) -> None: ...

    async def add_audit(self, *, entry: AuditEntry) -> None: ...

    async def add_audits(self, *, entries: list[AuditEntry]) -> None:
        """Record several entries in one write; returns only once all are stored."""
        ...

    async def prune_audit(self, *, before: datetime) -> int:
        """Delete the audit entries recorded before `before`; how many."""
        ...

    async def list_audit(
        self,
        *,
        org_id: str,
        key_id: str | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[AuditEntry]:
        """Newest first (by time, then id); only entries strictly after `before` in that order."""
        ...

    async def pending_events(self, *, limit: int) -> list[ProviderKey]: ...

    async def mark_published(self, *, key_id: str, rev: int) -> None: ...

    async def wrapped_not_at(
        self, *, version: str, limit: int, exclude: list[str] | None = None
    ) -> list[tuple[str, str, EncryptedSecret]]:
        """Up to `limit` (key_id, org_id, secret) whose data key is not wrapped by `version`."""
        ...

    async def swap_wrapped(
        self, *, key_id: str, old: EncryptedSecret, new_version: str, new_wrapped: bytes
    ) -> bool:
        """Replace the wrapped data key only if it is still `old`; False when it changed."""
        ...

    async def version_counts(self) -> dict[str, int]: ...


class KeyEvents(Protocol):
    """Publishes the current metadata of a key to keyvault.keys.v1."""

    async def publish(self, key: ProviderKey) -> None: ...


class WorkspaceDirectory(Protocol):
    """Asks workspace (the owner) for a workspace's assignment when the read model says no."""

    async def fetch(self, *, org_id: str, workspace_id: str) -> Assignment | None: ...


class KeyVerifier(Protocol):
    """Checks a key with one cheap authenticated call to its provider.

    Base URLs come from settings only.
    """

    async def verify(self, provider: ProviderId, secret: SecretValue) -> None: ...
