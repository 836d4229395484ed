"""Event contracts of every topic; one module per producer."""

from shared.contracts.alerts import OrgAlertRaised
from shared.contracts.base import (
    IDENTIFIER_MAX,
    IDENTIFIER_PATTERN,
    PROVIDERS,
    Event,
    Identifier,
    ProviderId,
    is_identifier,
    utcnow,
)
from shared.contracts.execution import (
    REPUBLISHED_HEADER,
    ChatMessage,
    ErrorCode,
    ExecutionError,
    ExecutionInput,
    ExecutionOutput,
    ExecutionRequested,
    ExecutionResult,
    ExecutionUsage,
    provider_not_configured_message,
)
from shared.contracts.keys import ProviderKeyChanged
from shared.contracts.topics import Topics
from shared.contracts.workspaces import (
    ROUTING_STRATEGIES,
    WEIGHT_MAX,
    WEIGHT_MIN,
    OrgPlanChanged,
    PlanLimits,
    ProviderRouting,
    RoutingStrategy,
    WorkspaceAssignmentsChanged,
)

__all__ = [
    "IDENTIFIER_MAX",
    "IDENTIFIER_PATTERN",
    "PROVIDERS",
    "REPUBLISHED_HEADER",
    "ROUTING_STRATEGIES",
    "WEIGHT_MAX",
    "WEIGHT_MIN",
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
    "OrgAlertRaised",
    "OrgPlanChanged",
    "PlanLimits",
    "ProviderId",
    "ProviderKeyChanged",
    "ProviderRouting",
    "RoutingStrategy",
    "Topics",
    "WorkspaceAssignmentsChanged",
    "is_identifier",
    "provider_not_configured_message",
    "utcnow",
]
