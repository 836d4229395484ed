"""Provider-key values and rules: validation, masked previews, associated data.

Pure: imports only the standard library, pydantic and shared.contracts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from keyvault.domain.errors import InvalidInputError
from shared.contracts import PROVIDERS, ProviderId, ProviderRouting, is_identifier

NAME_MAX = 64
SECRET_MIN = 20
SECRET_MAX = 512
# Longest prefix first, so `sk-ant-` wins over `sk-`.
PUBLIC_PREFIXES: tuple[str, ...] = ("sk-proj-", "sk-ant-", "AIza", "sk-")
_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")

KeyStatus = Literal["active", "deleted"]
AuditAction = Literal["created", "renamed", "key.replaced", "limits.changed", "deleted", "resolved"]


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
    budget_usd_monthly: float | None = None
    expires_at: datetime | None = None


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
    budget_usd_monthly: float | None = None
    name: str | None = None
    routing: Mapping[str, ProviderRouting] = field(default_factory=dict)


# --- rules -------------------------------------------------------------------------------


def validate_identifier(field_name: str, value: str) -> str:
    """An opaque id (org, workspace, execution, key): the contract's `Identifier`."""
    if not is_identifier(value):
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
