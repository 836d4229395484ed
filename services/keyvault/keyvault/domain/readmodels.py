"""keyvault's read models of workspace's state topics (assignments and plans)."""

from __future__ import annotations

from keyvault.domain.model import Assignment
from shared.contracts import OrgPlanChanged, WorkspaceAssignmentsChanged


class AssignmentsView:
    """workspace id -> its org and ordered key ids, from workspace.assignments.v1."""

    def __init__(self) -> None:
        self._by_ws: dict[str, Assignment] = {}

    def apply(self, workspace_id: str, event: WorkspaceAssignmentsChanged | None) -> None:
        """Apply one record of the compacted topic; None is a tombstone."""
        if event is None or event.deleted:
            self._by_ws.pop(workspace_id, None)
            return
        self._by_ws[workspace_id] = Assignment(
            workspace_id=event.workspace_id,
            org_id=event.org_id,
            key_ids=tuple(event.key_ids),
            budget_usd_monthly=event.budget_usd_monthly,
            name=event.name,
            routing={str(provider): rule for provider, rule in event.routing.items()},
        )

    def get(self, workspace_id: str) -> Assignment | None:
        return self._by_ws.get(workspace_id)


class PlansView:
    """org id -> provider-key limit, from workspace.plans.v1; the default plan otherwise."""

    def __init__(self, default_limit: int | None) -> None:
        self._default = default_limit
        self._limits: dict[str, int | None] = {}

    def apply(self, org_id: str, event: OrgPlanChanged | None) -> None:
        if event is None:
            self._limits.pop(org_id, None)
        else:
            self._limits[org_id] = event.limits.provider_keys

    def key_limit(self, org_id: str) -> int | None:
        return self._limits.get(org_id, self._default)
