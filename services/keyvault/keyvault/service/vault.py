"""The Vault: keyvault's key use cases (create, change, delete, read, resolve, publish)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from keyvault.domain import (
    Assignment,
    AssignmentsView,
    AuditAction,
    AuditEntry,
    DecryptionFailedError,
    EncryptedSecret,
    Freshness,
    InvalidCursorError,
    InvalidInputError,
    KeyEvents,
    Keyring,
    KeyStore,
    KeyUnavailableError,
    KeyvaultError,
    KeyVerifier,
    NoMoreKeysError,
    NotFoundError,
    PlanLimitReachedError,
    PlansView,
    ProviderKey,
    ProviderNotConfiguredError,
    Rotations,
    WorkspaceDirectory,
    choose_key,
    preview,
    validate_identifier,
    validate_name,
    validate_provider,
    validate_secret,
)
from keyvault.domain.budgets import (
    BudgetExceededError,
    KeyExpiredError,
    Refusal,
    budget_exceeded_message,
    is_expired,
    key_expired_message,
    validate_budget,
    validate_expires_at,
)
from keyvault.service.budgets import BudgetGuard
from keyvault.service.envelope import decrypt_secret, encrypt_secret
from keyvault.service.recording import AuditLog, LastUsed
from shared.contracts import OrgAlertRaised, ProviderRouting, utcnow
from shared.crypto import SecretValue, seal, seal_context
from shared.logging import registered_secret
from shared.paging import InvalidCursorError as MalformedCursor
from shared.paging import decode_cursor, encode_cursor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolveAsk:
    """One execution's request for its workspace's key of a provider."""

    org_id: str
    workspace_id: str
    provider: str
    execution_id: str
    public_key: bytes
    skip_key_ids: tuple[str, ...] = ()
    # The runner's conservative estimate of the call's cost (held against budgets); None when
    # the model has no price.
    estimate_usd: float | None = None


@dataclass(frozen=True)
class Resolved:
    key_id: str
    sealed: bytes


def new_key_id() -> str:
    return f"key_{uuid.uuid4().hex}"


class Vault:
    """Creates, renames, deletes and resolves provider keys; audits every change and use."""

    def __init__(
        self,
        *,
        store: KeyStore,
        keyring: Keyring,
        events: KeyEvents,
        assignments: AssignmentsView,
        plans: PlansView,
        directory: WorkspaceDirectory | None = None,
        verifier: KeyVerifier | None = None,
        freshness: Freshness | None = None,
        id_factory: Callable[[], str] = new_key_id,
        last_used_interval_s: float = 1.0,
        observe_audit_write: Callable[[float], None] | None = None,
        guard: BudgetGuard | None = None,
    ) -> None:
        self.guard = guard
        self.store = store
        self.keyring = keyring
        self.events = events
        self.assignments = assignments
        self.plans = plans
        self.directory = directory
        self.verifier = verifier
        self.freshness = freshness
        self._new_id = id_factory
        self._publish_locks: dict[str, asyncio.Lock] = {}
        self.audit_log = AuditLog(store, observe_write=observe_audit_write)
        self.last_used = LastUsed(store, interval_s=last_used_interval_s)
        self.rotations = Rotations()

    async def drain(self) -> None:
        """Finish pending audit writes and write the last uses (on shutdown)."""
        await self.audit_log.close()
        await self.last_used.stop()

    # --- key changes -------------------------------------------------------------------

    async def create(
        self,
        *,
        org_id: str,
        provider: str,
        name: str,
        secret: SecretValue,
        actor: str,
        verify: bool = False,
        budget_usd_monthly: float | None = None,
        expires_at: datetime | None = None,
    ) -> ProviderKey:
        """Validate, (optionally) verify with the provider, take a plan slot, store encrypted."""
        validate_identifier("org_id", org_id)
        budget = validate_budget(budget_usd_monthly)
        expiry = validate_expires_at(expires_at, now=utcnow())
        checked_provider = validate_provider(provider)
        checked_name = validate_name(name)
        validate_secret(secret.reveal())
        actor = actor or "unknown"
        key_id = self._new_id()
        limit = self.plans.key_limit(org_id)
        if not await self.store.acquire_slot(org_id=org_id, limit=limit, key_id=key_id):
            raise PlanLimitReachedError(
                f"the organization's plan allows {limit} provider keys; "
                "delete one or upgrade the plan"
            )
        try:
            if verify and self.verifier is not None:
                with registered_secret(secret.reveal()):
                    await self.verifier.verify(checked_provider, secret)
            key = ProviderKey(
                id=key_id,
                org_id=org_id,
                provider=checked_provider,
                name=checked_name,
                preview=preview(secret.reveal()),
                status="active",
                created_at=utcnow(),
                created_by=actor,
                budget_usd_monthly=budget,
                expires_at=expiry,
            )
            encrypted = encrypt_secret(
                self.keyring,
                org_id=org_id,
                key_id=key_id,
                provider=checked_provider,
                secret=secret,
            )
            await self.store.insert_key(key=key, secret=encrypted)
        except BaseException:
            await self.store.release_slot(org_id=org_id, key_id=key_id)
            raise
        await self._audit_change(key, "created", actor)
        await self.publish(key.id, org_id)
        return key

    async def rename(self, *, org_id: str, key_id: str, name: str, actor: str) -> ProviderKey:
        """Give a live key a new name, unique within the org."""
        checked = validate_name(name)
        key = await self.store.rename_key(org_id=org_id, key_id=key_id, name=checked)
        if key is None:
            raise NotFoundError(f"provider key {key_id!r} not found")
        await self._audit_change(key, "renamed", actor or "unknown")
        await self.publish(key_id, org_id)
        return key

    async def set_limits(
        self, *, org_id: str, key_id: str, changes: dict[str, float | datetime | None], actor: str
    ) -> ProviderKey:
        """Set a live key's monthly budget and/or expiry (null clears either)."""
        checked: dict[str, float | datetime | None] = {}
        if "budget_usd_monthly" in changes:
            value = changes["budget_usd_monthly"]
            if isinstance(value, datetime):
                raise InvalidInputError("budget_usd_monthly", "must be a number of US dollars")
            checked["budget_usd_monthly"] = validate_budget(value)
        if "expires_at" in changes:
            when = changes["expires_at"]
            if when is not None and not isinstance(when, datetime):
                raise InvalidInputError("expires_at", "must be an RFC 3339 date-time")
            checked["expires_at"] = validate_expires_at(when, now=utcnow())
        if not checked:
            return await self.get(org_id=org_id, key_id=key_id)
        key = await self.store.set_limits(org_id=org_id, key_id=key_id, changes=checked)
        if key is None:
            raise NotFoundError(f"provider key {key_id!r} not found")
        await self._audit_change(key, "limits.changed", actor or "unknown")
        await self.publish(key_id, org_id)
        return key

    async def replace(
        self, *, org_id: str, key_id: str, secret: SecretValue, actor: str, verify: bool = False
    ) -> ProviderKey:
        """Replace a live key's value in place: fresh data key, new preview, same id and
        assignments; the next resolution decrypts the new value."""
        validate_secret(secret.reveal())
        current = await self.get(org_id=org_id, key_id=key_id)
        if current.status != "active":
            raise NotFoundError(f"provider key {key_id!r} not found")
        if verify and self.verifier is not None:
            with registered_secret(secret.reveal()):
                await self.verifier.verify(current.provider, secret)
        encrypted = encrypt_secret(
            self.keyring, org_id=org_id, key_id=key_id, provider=current.provider, secret=secret
        )
        key = await self.store.replace_secret(
            org_id=org_id, key_id=key_id, preview=preview(secret.reveal()), secret=encrypted
        )
        if key is None:
            raise NotFoundError(f"provider key {key_id!r} not found")
        await self._audit_change(key, "key.replaced", actor or "unknown")
        await self.publish(key_id, org_id)
        return key

    async def delete(self, *, org_id: str, key_id: str, actor: str) -> None:
        """Delete a key: its wrapped data key and ciphertext go at once; metadata stays.

        Not crypto-shredding: a backup taken before stays decryptable while the keyring
        version that wrapped it lives (docs/SECURITY.md).
        """
        key = await self.store.delete_key(org_id=org_id, key_id=key_id)
        if key is None:
            raise NotFoundError(f"provider key {key_id!r} not found or already deleted")
        await self.store.release_slot(org_id=org_id, key_id=key_id)
        await self._audit_change(key, "deleted", actor or "unknown")
        await self.publish(key_id, org_id)

    async def _audit_change(self, key: ProviderKey, action: AuditAction, actor: str) -> None:
        await self.store.add_audit(
            entry=AuditEntry(
                at=utcnow(),
                org_id=key.org_id,
                key_id=key.id,
                action=action,
                actor=actor,
            )
        )

    # --- reads ---------------------------------------------------------------------------

    async def get(self, *, org_id: str, key_id: str) -> ProviderKey:
        key = await self.store.get_key(org_id=org_id, key_id=key_id)
        if key is None:
            raise NotFoundError(f"provider key {key_id!r} not found")
        return key

    async def list_keys(self, *, org_id: str, include_deleted: bool = False) -> list[ProviderKey]:
        return await self.store.list_keys(org_id=org_id, include_deleted=include_deleted)

    async def spent_this_month(self, *, org_id: str, key_ids: list[str]) -> dict[str, float]:
        """Each key's settled spend this UTC month (0 without budget tracking)."""
        if self.guard is None or not key_ids:
            return {}
        return await self.guard.spent_this_month(org_id=org_id, key_ids=key_ids)

    async def alerts(
        self, *, org_id: str, limit: int, cursor: str | None
    ) -> tuple[list[OrgAlertRaised], str | None]:
        """One page of the org's alerts, newest first."""
        if self.guard is None:
            return [], None
        return await self.guard.page(org_id=org_id, limit=limit, cursor=cursor)

    async def count(self, *, org_id: str) -> int:
        return await self.store.count_active(org_id=org_id)

    async def audit(
        self, *, org_id: str, key_id: str | None, limit: int, cursor: str | None = None
    ) -> tuple[list[AuditEntry], str | None]:
        """One page of the org's audit log, newest first, and the cursor of the next page."""
        try:
            before = decode_cursor(cursor) if cursor else None
        except MalformedCursor as exc:
            raise InvalidCursorError(str(exc)) from None
        entries = await self.store.list_audit(
            org_id=org_id, key_id=key_id, limit=limit + 1, before=before
        )
        if len(entries) <= limit:
            return entries, None
        last = entries[limit - 1]
        return entries[:limit], encode_cursor(last.at, last.id)

    # --- resolution ----------------------------------------------------------------------

    async def _assigned_material(
        self, *, org_id: str, workspace_id: str, provider: str
    ) -> tuple[
        list[tuple[ProviderKey, EncryptedSecret | None]], ProviderRouting | None, Assignment | None
    ]:
        """The workspace's assigned keys with their encrypted secrets (one exact read per
        key), its routing of `provider`, and the read model's assignment they were read for
        (the view replaces an assignment's object on every change, so `is` tells whether it
        changed since)."""
        assignment = self.assignments.get(workspace_id)
        found: list[tuple[ProviderKey, EncryptedSecret | None]] = []
        if assignment is not None and assignment.org_id == org_id:
            found = await self.store.key_material(org_id=org_id, key_ids=list(assignment.key_ids))
        if assignment is not None and any(
            k.provider == provider and k.status == "active" for k, _ in found
        ):
            return found, assignment.routing.get(provider), assignment
        if self.directory is not None:
            # The read model may lag a just-made assignment: ask the owner before saying no.
            fresh = await self.directory.fetch(org_id=org_id, workspace_id=workspace_id)
            if fresh is not None and fresh.org_id == org_id:
                material = await self.store.key_material(org_id=org_id, key_ids=list(fresh.key_ids))
                return material, fresh.routing.get(provider), assignment
        return found, None, assignment

    async def _material_after_fence(
        self, groups: list[tuple[str, str, str]]
    ) -> dict[
        tuple[str, str, str],
        tuple[list[tuple[ProviderKey, EncryptedSecret | None]], ProviderRouting | None],
    ]:
        """Each group's assigned keys as of a passed fence.

        The fence's round trip (Kafka ListOffsets, then the readers catching up) and the
        store reads are independent, so they run together: a store read started after the
        request arrived sees every key change made before it. The read model is trusted
        only once the fence has passed; a group whose assignment the readers replaced
        meanwhile (an unassign, a reassign) is read again for the current one. A failed
        fence raises before anything is decided, and the reads in flight are cancelled.
        """
        reads = {
            group: asyncio.ensure_future(
                self._assigned_material(org_id=group[0], workspace_id=group[1], provider=group[2])
            )
            for group in groups
        }
        try:
            if self.freshness is not None:
                # Fail closed: no key leaves while the assignments read model may be stale
                # (an unassign not yet applied); ReadModelsBehindError is a 503 the runner
                # retries.
                await self.freshness.check()
            out = {}
            for (org_id, workspace_id, provider), read in reads.items():
                found, routing, used = await read
                if self.assignments.get(workspace_id) is not used:
                    found, routing, _ = await self._assigned_material(
                        org_id=org_id, workspace_id=workspace_id, provider=provider
                    )
                out[(org_id, workspace_id, provider)] = (found, routing)
            return out
        except BaseException:
            for read in reads.values():
                read.cancel()
            await asyncio.gather(*reads.values(), return_exceptions=True)
            raise

    async def resolve(
        self,
        *,
        org_id: str,
        workspace_id: str,
        provider: str,
        execution_id: str,
        public_key: bytes,
        skip_key_ids: list[str],
        service: str,
    ) -> Resolved:
        """The workspace's key of `provider` (by its routing), audited, sealed to `public_key`."""
        ask = ResolveAsk(
            org_id=org_id,
            workspace_id=workspace_id,
            provider=provider,
            execution_id=execution_id,
            public_key=public_key,
            skip_key_ids=tuple(skip_key_ids),
        )
        (outcome,) = await self.resolve_many([ask], service=service)
        if isinstance(outcome, KeyvaultError):
            raise outcome
        return outcome

    async def resolve_many(
        self, asks: list[ResolveAsk], *, service: str
    ) -> list[Resolved | KeyvaultError]:
        """Resolve several executions' keys at once, each answered on its own.

        One store read per distinct (org, workspace), run while the fence's round trip is in
        flight (`_material_after_fence`), and one decryption per distinct key;
        every granted resolution is audited (one group-committed write) before any sealed
        key leaves. A refusal (not configured, no more keys, invalid input) is that ask's
        outcome and does not affect the others.
        """
        outcomes: list[Resolved | KeyvaultError | None] = [None] * len(asks)
        groups: dict[tuple[str, str, str], list[int]] = {}
        for i, ask in enumerate(asks):
            try:
                validate_identifier("org_id", ask.org_id)
                validate_identifier("workspace_id", ask.workspace_id)
                validate_identifier("execution_id", ask.execution_id)
                checked = validate_provider(ask.provider)
            except KeyvaultError as exc:
                outcomes[i] = exc
                continue
            groups.setdefault((ask.org_id, ask.workspace_id, checked), []).append(i)

        granted: list[tuple[int, ProviderKey, SecretValue]] = []
        plain: dict[str, SecretValue | KeyvaultError] = {}  # decrypted once per key id
        materials = await self._material_after_fence(list(groups))
        for (org_id, workspace_id, provider), members in groups.items():
            found, routing = materials[(org_id, workspace_id, provider)]
            secrets = {k.id: secret for k, secret in found}
            live = [k for k, _ in found if k.provider == provider and k.status == "active"]
            rotation = self.rotations.of(org_id, workspace_id, provider)
            picked = await asyncio.gather(
                *(
                    self._pick_usable(
                        asks[i],
                        provider=provider,
                        live=live,
                        secrets=secrets,
                        plain=plain,
                        routing=routing,
                        rotation=rotation,
                    )
                    for i in members
                )
            )
            for i, outcome in zip(members, picked, strict=True):
                if isinstance(outcome, KeyvaultError):
                    outcomes[i] = outcome
                else:
                    granted.append((i, *outcome))
        if granted:
            now = utcnow()
            # The audit entries are stored before any key leaves keyvault (group-committed
            # with concurrent resolutions; this returns only once ours are written).
            await self.audit_log.record_many(
                [
                    AuditEntry(
                        at=now,
                        org_id=asks[i].org_id,
                        key_id=key.id,
                        action="resolved",
                        actor=service,
                        workspace_id=asks[i].workspace_id,
                        execution_id=asks[i].execution_id,
                        service=service,
                    )
                    for i, key, _ in granted
                ]
            )
            for i, key, secret in granted:
                # last_used_at is informational: coalesced in memory, written at most once a
                # second per key.
                self.last_used.note(key.id, now)
                outcomes[i] = Resolved(
                    key_id=key.id,
                    sealed=seal(
                        asks[i].public_key,
                        secret.reveal().encode(),
                        seal_context(execution_id=asks[i].execution_id, key_id=key.id),
                    ),
                )
            self.last_used.start()
        return [o if o is not None else KeyUnavailableError("not resolved") for o in outcomes]

    async def _pick_usable(
        self,
        ask: ResolveAsk,
        *,
        provider: str,
        live: list[ProviderKey],
        secrets: dict[str, EncryptedSecret | None],
        plain: dict[str, SecretValue | KeyvaultError],
        routing: ProviderRouting | None = None,
        rotation: dict[str, int] | None = None,
    ) -> tuple[ProviderKey, SecretValue] | KeyvaultError:
        """`_pick` (by the workspace's routing strategy) among the keys that have not expired
        and have budget headroom.

        An expired key is never resolved; a key whose (or whose workspace's) monthly budget
        cannot hold the call's estimate is skipped for the next one, and the hold taken on
        the chosen key's budgets is what makes the check atomic (service/budgets.py).
        """
        now = utcnow()
        usable = [k for k in live if not is_expired(k, now=now)]
        left = [k for k in live if k.id not in ask.skip_key_ids]
        if left and all(is_expired(k, now=now) for k in left):
            return KeyExpiredError(key_expired_message(left, provider, ask.workspace_id))
        if live and not usable:  # every expired key was also skipped already
            return NoMoreKeysError(f"every {provider} key left has expired or was skipped")
        refusals: list[Refusal] = []
        while True:
            outcome = self._pick(
                ask,
                provider=provider,
                live=usable,
                secrets=secrets,
                plain=plain,
                routing=routing,
                rotation=rotation,
            )
            if isinstance(outcome, KeyvaultError) or self.guard is None:
                if refusals and isinstance(outcome, NoMoreKeysError):
                    return BudgetExceededError(
                        budget_exceeded_message(refusals, provider, ask.workspace_id)
                    )
                return outcome
            key = outcome[0]
            refusal = await self.guard.admit(
                org_id=ask.org_id,
                workspace_id=ask.workspace_id,
                execution_id=ask.execution_id,
                key=key,
                estimate_usd=ask.estimate_usd,
            )
            if refusal is None:
                return outcome
            refusals.append(refusal)
            if refusal.scope == "workspace":  # no other key of this workspace can help
                return BudgetExceededError(
                    budget_exceeded_message(refusals[-1:], provider, ask.workspace_id)
                )
            ask = replace(ask, skip_key_ids=(*ask.skip_key_ids, key.id))

    def _pick(
        self,
        ask: ResolveAsk,
        *,
        provider: str,
        live: list[ProviderKey],
        secrets: dict[str, EncryptedSecret | None],
        plain: dict[str, SecretValue | KeyvaultError],
        routing: ProviderRouting | None = None,
        rotation: dict[str, int] | None = None,
    ) -> tuple[ProviderKey, SecretValue] | KeyvaultError:
        """The key one ask gets from its workspace's live keys (by the workspace's routing
        strategy for the provider), decrypted, or its refusal."""
        if not live:
            return ProviderNotConfiguredError(ask.workspace_id, provider)
        key = choose_key(
            candidates=live,
            provider=provider,
            skip=set(ask.skip_key_ids),
            routing=routing,
            rotation=rotation,
        )
        if key is None:
            return NoMoreKeysError(
                f"every {provider} key assigned to workspace {ask.workspace_id!r} was skipped"
            )
        if key.id not in plain:
            stored = secrets.get(key.id)
            if stored is None:  # removed (deleted) though the metadata said active
                plain[key.id] = NoMoreKeysError(f"provider key {key.id!r} is no longer available")
            else:
                try:
                    plain[key.id] = decrypt_secret(
                        self.keyring, stored, org_id=ask.org_id, key_id=key.id, provider=provider
                    )
                except DecryptionFailedError:
                    log.error("stored key could not be decrypted", extra={"key_id": key.id})
                    plain[key.id] = KeyUnavailableError(
                        f"provider key {key.id!r} could not be decrypted"
                    )
        secret = plain[key.id]
        return secret if isinstance(secret, KeyvaultError) else (key, secret)

    # --- events --------------------------------------------------------------------------

    async def publish(self, key_id: str, org_id: str) -> None:
        """Publish the key's current metadata; a failure leaves it pending for the outbox."""
        lock = self._publish_locks.setdefault(key_id, asyncio.Lock())
        async with lock:
            key = await self.store.get_key(org_id=org_id, key_id=key_id)
            if key is None:
                return
            try:
                await self.events.publish(key)
            except Exception as exc:
                log.warning(
                    "key event not published yet (%s); the outbox retries",
                    type(exc).__name__,
                    extra={"key_id": key_id},
                )
                return
            await self.store.mark_published(key_id=key_id, rev=key.rev)
        if not lock.locked():
            self._publish_locks.pop(key_id, None)

    async def republish_all(self, *, batch: int = 500) -> int:
        """Publish every stored key's current state again (disaster recovery of the compacted
        keys topic): every key is put in the outbox, then the outbox is drained. Safe while
        keyvault runs (both publish the current state; the last record per key wins).
        Returns how many keys were published; raises if some could not be."""
        marked = await self.store.mark_all_pending()
        previous: set[str] = set()
        while True:
            pending = await self.store.pending_events(limit=batch)
            if not pending:
                return marked
            ids = {key.id for key in pending}
            if ids == previous:  # the last round published none of them
                raise RuntimeError(f"{len(ids)} keys could not be published; is Kafka reachable?")
            previous = ids
            for key in pending:
                await self.publish(key.id, key.org_id)

    async def flush_outbox(self, *, limit: int = 500) -> int:
        """Publish every key whose last change has not reached Kafka yet."""
        pending = await self.store.pending_events(limit=limit)
        for key in pending:
            await self.publish(key.id, key.org_id)
        return len(pending)
