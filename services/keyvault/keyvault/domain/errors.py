"""keyvault's typed refusals: each carries its HTTP status and machine code, never a secret."""

from __future__ import annotations

from shared.contracts import ErrorCode, provider_not_configured_message


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
    """No live key of the provider is assigned to the workspace (the contract's error code)."""

    status = 409
    code: str = ErrorCode.PROVIDER_NOT_CONFIGURED.value

    def __init__(self, workspace_id: str, provider: str) -> None:
        super().__init__(provider_not_configured_message(workspace_id, provider))


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


class ReadModelsBehindError(KeyvaultError):
    """A read model (assignments, plans) may be stale: its reader is behind or not running.

    Resolution fails closed rather than trust a read model that may miss a revocation.
    Retryable: the runner waits and asks again (infrastructure, not the user's failure).
    """

    status = 503
    code = "dependency_unavailable"


class DecryptionFailedError(Exception):
    """Raised by the envelope when a ciphertext or wrapped data key does not authenticate."""
