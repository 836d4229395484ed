"""A workspace's monthly budget (issue 16): validation only; keyvault enforces it."""

from __future__ import annotations

import math

from workspace.domain.errors import InvalidInputError

BUDGET_MAX_USD = 10_000_000.0


def validate_budget(value: float | None) -> float | None:
    """A monthly budget in USD: null (none), or more than 0 and at most 10^7."""
    if value is None:
        return None
    if isinstance(value, bool) or not math.isfinite(value):
        raise InvalidInputError("budget_usd_monthly: must be a number of US dollars")
    if value <= 0:
        raise InvalidInputError(
            "budget_usd_monthly: must be more than 0 USD (use null for no budget)"
        )
    if value > BUDGET_MAX_USD:
        raise InvalidInputError(
            f"budget_usd_monthly: must be at most {BUDGET_MAX_USD:,.0f} USD per month"
        )
    return round(float(value), 6)
