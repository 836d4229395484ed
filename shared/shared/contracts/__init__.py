"""Event contracts of every topic; one module per producer."""

from shared.contracts.base import PROVIDERS, Event, Identifier, ProviderId, utcnow
from shared.contracts.execution import (
    ChatMessage,
    ErrorCode,
    ExecutionError,
    ExecutionInput,
    ExecutionOutput,
    ExecutionRequested,
    ExecutionResult,
    ExecutionUsage,
)
from shared.contracts.keys import ProviderKeyChanged
from shared.contracts.topics import Topics
from shared.contracts.workspaces import OrgPlanChanged, PlanLimits, WorkspaceAssignmentsChanged

__all__ = [
    "PROVIDERS",
    "ChatMessage",
    "ErrorCode",
    "Event",
    "ExecutionError",
    "ExecutionInput",
    "ExecutionOutput",
    "ExecutionRequested",
    "ExecutionResult",
    "ExecutionUsage",
    "Identifier",
    "OrgPlanChanged",
    "PlanLimits",
    "ProviderId",
    "ProviderKeyChanged",
    "Topics",
    "WorkspaceAssignmentsChanged",
    "utcnow",
]
