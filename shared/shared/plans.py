"""The plan table (configuration): plan name -> limits; null is unlimited."""

from __future__ import annotations

import json

from shared.contracts.workspaces import PlanLimits

DEFAULT_PLAN = "starter"

DEFAULT_PLANS: dict[str, PlanLimits] = {
    "starter": PlanLimits(provider_keys=3, workspaces=3),
    "team": PlanLimits(provider_keys=10, workspaces=25),
    "enterprise": PlanLimits(provider_keys=None, workspaces=None),
}


def parse_plans(raw: str | None) -> dict[str, PlanLimits]:
    """The plan table from `FLOWTRUX_PLANS` JSON ({name: {limits}}), else the defaults."""
    if not raw:
        return dict(DEFAULT_PLANS)
    data = json.loads(raw)
    plans = {name: PlanLimits.model_validate(limits) for name, limits in data.items()}
    if DEFAULT_PLAN not in plans:
        raise ValueError(f"FLOWTRUX_PLANS must define the default plan {DEFAULT_PLAN!r}")
    return plans
