"""Provider-key rules: validation, masked previews, typed errors and the ports keyvault needs.

Pure: imports only the standard library, pydantic and shared.contracts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from shared.contracts import PROVIDERS, ProviderId

NAME_MAX = 64
SECRET_MIN = 20
SECRET_MAX = 512
# Longest prefix first, so `sk-ant-` wins over `sk-`.
PUBLIC_PREFIXES: tuple[str, ...] = ("sk-proj-", "sk-ant-", "AIza", "sk-")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")

KeyStatus = Literal["active", "deleted"]
AuditAction = Literal["created", "renamed", "key.replaced", "deleted", "resolved"]


# --- errors ------------------------------------------------------------------------------


class KeyvaultError(Exception):
    """A domain refusal with an HTTP-like status and a machine code; never carries a secret."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInputError(KeyvaultError):
    status = 422
    code = "validation_error"

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name


class InvalidCursorError(KeyvaultError):
    """A page cursor this service did not hand out."""

    status = 422
    code = "invalid_cursor"


class NotFoundError(KeyvaultError):
    status = 404
    code = "not_found"


class NameTakenError(KeyvaultError):
    status = 409
    code = "name_taken"


class PlanLimitReachedError(KeyvaultError):
    status = 409
    code = "plan_limit_reached"


class ProviderNotConfiguredError(KeyvaultError):
    status = 409
    code = "provider_not_configured"


class NoMoreKeysError(KeyvaultError):
    status = 409
    code = "no_more_keys"


class KeyRejectedError(KeyvaultError):
    status = 422
    code = "key_rejected"


class ProviderUnreachableError(KeyvaultError):
    status = 503
    code = "provider_unreachable"


class KeyUnavailableError(KeyvaultError):
    """The stored secret could not be decrypted (tampered record, retired keyring version)."""

    status = 503
    code = "key_unavailable"


class StoreUnavailableError(KeyvaultError):
    """The store kept failing transiently (busy, failover, network) past the bounded retries.

    Retryable: the caller may ask again shortly; never a 500.
    """

    status = 503
    code = "store_unavailable"


class DecryptionFailedError(Exception):
    """Raised by the envelope when a ciphertext or wrapped data key does not authenticate."""


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderKey:
    """The metadata of one stored provider key; never the secret."""

    id: str
    org_id: str
    provider: ProviderId
    name: str
    preview: str
    status: KeyStatus
    created_at: datetime
    created_by: str
    last_used_at: datetime | None = None
    rev: int = 1


@dataclass(frozen=True)
class EncryptedSecret:
    """A secret at rest: ciphertext under a data key, the data key wrapped by a KEK version."""

    kek_version: str
    wrapped_dek: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class AuditEntry:
    """One audited event: a key change or a resolution; never secret material."""

    at: datetime
    org_id: str
    key_id: str
    action: AuditAction
    actor: str
    workspace_id: str | None = None
    execution_id: str | None = None
    service: str | None = None
    id: str = ""  # set by the store


@dataclass(frozen=True)
class Assignment:
    """keyvault's read model of one workspace: its org and ordered key ids."""

    workspace_id: str
    org_id: str
    key_ids: tuple[str, ...] = field(default_factory=tuple)
    deleted: bool = False


# --- rules -------------------------------------------------------------------------------


def validate_identifier(field_name: str, value: str) -> str:
    """An opaque id (org, workspace, execution, key): 1–128 safe characters."""
    if not _ID_RE.fullmatch(value):
        raise InvalidInputError(field_name, "must be 1–128 letters, digits or ._:@- characters")
    return value


def validate_provider(value: str) -> ProviderId:
    """One of the supported providers."""
    for provider in PROVIDERS:
        if value == provider:
            return provider
    raise InvalidInputError("provider", f"unknown provider; expected one of {', '.join(PROVIDERS)}")


def validate_name(value: str) -> str:
    """A display name: 1–64 characters after trimming, no control characters."""
    name = value.strip()
    if not name:
        raise InvalidInputError("name", "must not be empty")
    if len(name) > NAME_MAX:
        raise InvalidInputError("name", f"must be at most {NAME_MAX} characters")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise InvalidInputError("name", "must not contain control characters")
    return name


def name_slot(name: str) -> str:
    """The uniqueness form of a name: names differing only in case collide."""
    return name.casefold()


def validate_secret(value: str) -> str:
    """A provider API key: 20–512 characters, no whitespace or control characters.

    Messages never quote the value.
    """
    if not value:
        raise InvalidInputError("api_key", "must not be empty")
    if _BAD_CHARS.search(value):
        raise InvalidInputError("api_key", "must not contain whitespace or control characters")
    if not value.isascii():
        # Provider keys are ASCII; anything else cannot travel in an HTTP header either.
        raise InvalidInputError("api_key", "must contain only ASCII characters")
    if len(value) < SECRET_MIN:
        raise InvalidInputError("api_key", f"must be at least {SECRET_MIN} characters")
    if len(value) > SECRET_MAX:
        raise InvalidInputError("api_key", f"must be at most {SECRET_MAX} characters")
    return value


def preview(secret: str) -> str:
    """The masked preview: the public prefix (if any), '…', the last 4 characters."""
    prefix = next((p for p in PUBLIC_PREFIXES if secret.startswith(p)), "")
    return f"{prefix}…{secret[-4:]}"


def secret_aad(*, org_id: str, key_id: str, provider: str) -> bytes:
    """Associated data binding a ciphertext to its record."""
    return "\x1f".join(("flowtrux/keyvault/secret/v1", org_id, key_id, provider)).encode()


def wrap_aad(*, key_id: str, kek_version: str) -> bytes:
    """Associated data binding a wrapped data key to its record and keyring version."""
    return "\x1f".join(("flowtrux/keyvault/dek/v1", key_id, kek_version)).encode()


def not_configured_message(workspace_id: str, provider: str) -> str:
    """What the runner shows when no key of the provider is assigned to the workspace."""
    return (
        f"Workspace {workspace_id!r} has no {provider} key assigned. An OWNER can add a "
        f"{provider} key under Settings → AI Providers and assign it to the workspace under "
        "Settings → Workspaces."
    )


def choose_key(
    *, candidates: list[ProviderKey], provider: str, skip: set[str]
) -> ProviderKey | None:
    """The first live key of `provider` in assignment order not in `skip`."""
    for key in candidates:
        if key.status == "active" and key.provider == provider and key.id not in skip:
            return key
    return None


# --- ports -------------------------------------------------------------------------------


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

    async def acquire_slot(self, *, org_id: str, limit: int | None, key_id: str) -> None:
        """Take one of the org's `limit` key slots for `key_id`, else PlanLimitReachedError."""
        ...

    async def release_slot(self, *, org_id: str, key_id: str) -> None: ...

    async def insert_key(self, *, key: ProviderKey, secret: EncryptedSecret) -> None:
        """Store a new key; NameTakenError when an active key of the org has the name."""
        ...

    async def get_key(self, *, org_id: str, key_id: str) -> ProviderKey | None: ...

    async def list_keys(self, *, org_id: str, include_deleted: bool) -> list[ProviderKey]: ...

    async def keys_by_ids(self, *, org_id: str, key_ids: list[str]) -> list[ProviderKey]: ...

    async def key_material(
        self, *, org_id: str, key_ids: list[str]
    ) -> list[tuple[ProviderKey, EncryptedSecret | None]]:
        """`keys_by_ids` plus each live key's encrypted secret, in one read."""
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

    async def get_secret(self, *, org_id: str, key_id: str) -> EncryptedSecret | None: ...

    async def touch_last_used(self, *, key_id: str, at: datetime) -> None: ...

    async def add_audit(self, *, entry: AuditEntry) -> None: ...

    async def add_audits(self, *, entries: list[AuditEntry]) -> None:
        """Record several entries in one write; returns only once all are stored."""
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
