"""keyvault's rules and types: values, typed errors, read models and the ports it needs.

Pure: imports only the standard library, pydantic and shared.contracts (and the
SecretValue wrapper of shared.crypto).
"""

from keyvault.domain.errors import (
    DecryptionFailedError,
    InvalidCursorError,
    InvalidInputError,
    KeyRejectedError,
    KeyUnavailableError,
    KeyvaultError,
    NameTakenError,
    NoMoreKeysError,
    NotFoundError,
    PlanLimitReachedError,
    ProviderNotConfiguredError,
    ProviderUnreachableError,
    StoreUnavailableError,
)
from keyvault.domain.model import (
    Assignment,
    AuditAction,
    AuditEntry,
    EncryptedSecret,
    KeyStatus,
    ProviderKey,
    name_slot,
    preview,
    secret_aad,
    validate_identifier,
    validate_name,
    validate_provider,
    validate_secret,
    wrap_aad,
)
from keyvault.domain.ports import KeyEvents, Keyring, KeyStore, KeyVerifier, WorkspaceDirectory
from keyvault.domain.readmodels import AssignmentsView, PlansView
from keyvault.domain.selection import Rotations, choose_key, smooth_weighted_pick

__all__ = [
    "Assignment",
    "AssignmentsView",
    "AuditAction",
    "AuditEntry",
    "DecryptionFailedError",
    "EncryptedSecret",
    "InvalidCursorError",
    "InvalidInputError",
    "KeyEvents",
    "KeyRejectedError",
    "KeyStatus",
    "KeyStore",
    "KeyUnavailableError",
    "KeyVerifier",
    "Keyring",
    "KeyvaultError",
    "NameTakenError",
    "NoMoreKeysError",
    "NotFoundError",
    "PlanLimitReachedError",
    "PlansView",
    "ProviderKey",
    "ProviderNotConfiguredError",
    "ProviderUnreachableError",
    "Rotations",
    "StoreUnavailableError",
    "WorkspaceDirectory",
    "choose_key",
    "name_slot",
    "preview",
    "secret_aad",
    "smooth_weighted_pick",
    "validate_identifier",
    "validate_name",
    "validate_provider",
    "validate_secret",
    "wrap_aad",
]
