"""Alerts for an organization (topic org.alerts.v1, key = org_id), published by keyvault."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.contracts.base import Event, Identifier


class OrgAlertRaised(Event):
    """A budget passed 50/80/100 % in a UTC month, or a key expires within 7 days.

    Each alert is raised once: `alert_id` is derived from (kind, scope, scope id, month or
    expiry, threshold), so a redelivered or concurrent check never raises it twice.
    """

    org_id: Identifier = Field(description="Organization the alert is for; also the Kafka key.")
    alert_id: str = Field(description="Stable id of the alert (the same alert, the same id).")
    kind: Literal["budget", "key_expiry"] = Field(description="What the alert is about.")
    scope: Literal["key", "workspace"] = Field(description="Whose budget or expiry.")
    scope_id: Identifier = Field(description="The key id or workspace id.")
    threshold_pct: Literal[50, 80, 100] | None = Field(
        None, description="Budget alerts: the share of the budget reached."
    )
    month: str | None = Field(None, description="Budget alerts: the UTC month, YYYY-MM.")
    budget_usd: float | None = Field(None, description="Budget alerts: the monthly budget.")
    spent_usd: float | None = Field(None, description="Budget alerts: spent this month so far.")
    expires_at: datetime | None = Field(None, description="Expiry alerts: when the key expires.")
    message: str = Field(description="What happened and what to do, for people.")
    at: datetime = Field(description="When the alert was raised.")
