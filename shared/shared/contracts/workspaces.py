"""State events published by workspace (compacted topics, keyed by workspace or org id)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.contracts.base import Event, Identifier, Model, ProviderId

RoutingStrategy = Literal["ordered", "round_robin"]
ROUTING_STRATEGIES: tuple[RoutingStrategy, ...] = ("ordered", "round_robin")
WEIGHT_MIN = 1
WEIGHT_MAX = 100


class ProviderRouting(Model):
    """How the runner's key is chosen among a workspace's keys of one provider."""

    strategy: RoutingStrategy = Field(
        "ordered",
        description=(
            "`ordered`: the first usable key in assignment order (the others are failover); "
            "`round_robin`: executions spread over the usable keys by weight."
        ),
    )
    weights: dict[Identifier, int] = Field(
        default_factory=dict,
        description=(
            f"round_robin only: key id -> weight {WEIGHT_MIN}–{WEIGHT_MAX} (a key not "
            "listed weighs 1)."
        ),
    )


class WorkspaceAssignmentsChanged(Event):
    """Ordered key ids assigned to a workspace (workspace.assignments.v1, key = workspace_id)."""

    workspace_id: Identifier = Field(description="Id of the workspace; also the Kafka key.")
    org_id: Identifier = Field(description="Organization the workspace belongs to.")
    key_ids: list[Identifier] = Field(
        description="Assigned provider keys, in the order the runner tries them per provider."
    )
    deleted: bool = Field(False, description="True once the workspace is deleted.")
    budget_usd_monthly: float | None = Field(
        None, description="Monthly (UTC) spend cap of the workspace in USD; null = no budget."
    )
    name: str | None = Field(None, description="Display name (named in budget messages).")
    routing: dict[ProviderId, ProviderRouting] = Field(
        default_factory=dict,
        description="Key choice per provider; a provider not listed is `ordered`.",
    )


class PlanLimits(Model):
    """Limits of a plan; null means unlimited."""

    provider_keys: int | None = Field(description="Most provider keys the org may store.")
    workspaces: int | None = Field(description="Most workspaces the org may have.")


class OrgPlanChanged(Event):
    """The current plan of an organization (workspace.plans.v1, key = org_id)."""

    org_id: Identifier = Field(description="Organization; also the Kafka key.")
    plan: str = Field(description="Plan name, e.g. starter, team, enterprise.")
    limits: PlanLimits = Field(description="The plan's limits.")
