"""Typed errors of the workspace domain; the API maps each `code` to a problem+json status."""

from __future__ import annotations


class WorkspaceError(Exception):
    """Base of every domain error; `code` is the machine-readable reason."""

    code = "workspace_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(WorkspaceError):
    code = "not_found"


class NameTakenError(WorkspaceError):
    code = "name_taken"


class PlanLimitReachedError(WorkspaceError):
    code = "plan_limit_reached"


class UnknownPlanError(WorkspaceError):
    code = "unknown_plan"


class UnknownAIProviderError(WorkspaceError):
    code = "unknown_ai_provider"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"{key_id!r} is not a provider key of this organization")
        self.key_id = key_id


class InvalidInputError(WorkspaceError):
    code = "validation_error"


class InvalidCursorError(WorkspaceError):
    """A page cursor this service did not hand out."""

    code = "invalid_cursor"


class KeyLookupUnavailableError(WorkspaceError):
    """keyvault could not be asked to confirm a key the read model does not know yet."""

    code = "keyvault_unavailable"


class StoreUnavailableError(WorkspaceError):
    """The store kept failing transiently (e.g. locked or reconnecting); retry shortly."""

    code = "store_unavailable"
