"""The ports keyvault's use cases need; the store, the events, the clients implement them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from keyvault.domain.budgets import Charge, CounterMove, Hold
from keyvault.domain.model import Assignment, AuditEntry, EncryptedSecret, ProviderKey
from shared.contracts import OrgAlertRaised, ProviderId
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

    async def set_limits(
        self, *, org_id: str, key_id: str, changes: dict[str, float | datetime | None]
    ) -> ProviderKey | None:
        """Set a live key's `budget_usd_monthly` and/or `expires_at` (the keys of `changes`)."""
        ...

    async def expiring_keys(self, *, before: datetime) -> list[ProviderKey]:
        """Live keys with an expiry at or before `before`."""
        ...

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

    async def mark_all_pending(self) -> int:
        """Put every key (deleted ones too) in the outbox; how many there are."""
        ...

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


class Freshness(Protocol):
    """Proof that the read models have applied every change written before the call."""

    async def check(self) -> None:
        """Return when current; raise ReadModelsBehindError when behind or not running."""
        ...


class BudgetStore(Protocol):
    """Monthly spend counters, in-flight holds and alerts (single-document atomic writes)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def hold(self, *, hold: Hold, budgets: list[int]) -> int | None:
        """Reserve `hold.estimate_nanos` on each of `hold.counters` (whose budgets, in nanos,
        are `budgets`), each increment conditional on used + estimate ≤ budget.

        None when every counter had room (or this hold exists already: a redelivery); else the
        index of the first counter without room, with the earlier increments undone.
        """
        ...

    async def settle(self, charges: list[Charge]) -> list[CounterMove]:
        """Add each new charge's cost to its key's and workspace's counters (a charge already
        settled is skipped: looked up for those that `may_be_settled`, and a charge twice in
        the batch counts once), then release the execution's holds. The batch's costs are
        added up per counter: one move per counter, spanning the whole batch."""
        ...

    async def prune_settled(self, *, before: datetime) -> int:
        """Delete the settled markers written before `before` (a marker with no time, from an
        older version, is given the time of this call first); how many."""
        ...

    async def settled_up_to(self, streams: list[str]) -> dict[str, int]:
        """The last offset settled of each stream that has one (see `plan_settlement`)."""
        ...

    async def mark_settled_up_to(self, offsets: dict[str, int]) -> None:
        """Record each stream's last settled offset (never moving one back)."""
        ...

    async def sweep(self, *, now: datetime) -> int:
        """Release holds past their expiry (their result never came); how many."""
        ...

    async def spent(self, counter_ids: list[str]) -> dict[str, int]:
        """Settled spend in nanos of each counter (absent: 0)."""
        ...

    async def used(self, counter_id: str) -> int:
        """Settled spend plus holds in flight, in nanos."""
        ...

    async def add_alerts(self, alerts: list[OrgAlertRaised]) -> list[OrgAlertRaised]:
        """Store alerts by `alert_id`; returns those not stored before (to publish)."""
        ...

    async def unpublished_alerts(self, *, limit: int) -> list[OrgAlertRaised]: ...

    async def mark_alert_published(self, alert_id: str) -> None: ...

    async def list_alerts(
        self, *, org_id: str, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[OrgAlertRaised]:
        """Newest first (by time, then id); only alerts strictly after `before` in that order."""
        ...


class AlertEvents(Protocol):
    """Publishes to org.alerts.v1."""

    async def publish_alert(self, alert: OrgAlertRaised) -> None: ...


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
