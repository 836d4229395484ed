"""The rules of the workspace service; no I/O library is imported here."""

from workspace.domain.errors import (
    InvalidInputError,
    KeyLookupUnavailableError,
    NameTakenError,
    NotFoundError,
    PlanLimitReachedError,
    StoreUnavailableError,
    UnknownAIProviderError,
    UnknownPlanError,
    WorkspaceError,
)
from workspace.domain.keys import KeyDirectory
from workspace.domain.ledger import Ledger, month_start, next_month
from workspace.domain.model import (
    CatalogEntry,
    ExecutionRecord,
    GroupBy,
    Interval,
    KeyInfo,
    Org,
    Totals,
    UsageFact,
    UsageRow,
    Workspace,
)
from workspace.domain.ports import (
    Catalog,
    KeyConfirmer,
    LedgerStore,
    StatePublisher,
    WorkspaceStore,
)
from workspace.domain.workspaces import WorkspaceService, clean_name

__all__ = [
    "Catalog",
    "CatalogEntry",
    "ExecutionRecord",
    "GroupBy",
    "Interval",
    "InvalidInputError",
    "KeyConfirmer",
    "KeyDirectory",
    "KeyInfo",
    "KeyLookupUnavailableError",
    "Ledger",
    "LedgerStore",
    "NameTakenError",
    "NotFoundError",
    "Org",
    "PlanLimitReachedError",
    "StatePublisher",
    "StoreUnavailableError",
    "Totals",
    "UnknownAIProviderError",
    "UnknownPlanError",
    "UsageFact",
    "UsageRow",
    "Workspace",
    "WorkspaceError",
    "WorkspaceService",
    "WorkspaceStore",
    "clean_name",
    "month_start",
    "next_month",
]
