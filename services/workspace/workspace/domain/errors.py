"""Typed errors of the workspace domain: each carries its HTTP status and machine code."""

from __future__ import annotations

STORE_BUSY = "the usage store is busy; try again shortly"


class WorkspaceError(Exception):
    """Base of every domain error; `code` is the machine-readable reason."""

    status = 400
    code = "workspace_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(WorkspaceError):
    status = 404
    code = "not_found"


class NameTakenError(WorkspaceError):
    status = 409
    code = "name_taken"


class PlanLimitReachedError(WorkspaceError):
    status = 409
    code = "plan_limit_reached"


class UnknownPlanError(WorkspaceError):
    status = 422
    code = "unknown_plan"


class UnknownAIProviderError(WorkspaceError):
    status = 422
    code = "unknown_ai_provider"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"{key_id!r} is not a provider key of this organization")
        self.key_id = key_id


class InvalidInputError(WorkspaceError):
    status = 422
    code = "validation_error"


class InvalidCursorError(WorkspaceError):
    """A page cursor this service did not hand out."""

    status = 422
    code = "invalid_cursor"


class KeyLookupUnavailableError(WorkspaceError):
    """keyvault could not be asked to confirm a key the read model does not know yet."""

    status = 503
    code = "keyvault_unavailable"


class StoreUnavailableError(WorkspaceError):
    """The store kept failing transiently (e.g. locked or reconnecting); retry shortly."""

    status = 503
    code = "store_unavailable"

    def __init__(self, detail: str = STORE_BUSY) -> None:
        super().__init__(detail)
