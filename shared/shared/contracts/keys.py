"""State events published by keyvault (compacted topic keyvault.keys.v1, key = key_id)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.contracts.base import Event, Identifier, ProviderId


class ProviderKeyChanged(Event):
    """The current metadata of one provider key; never any secret material."""

    key_id: Identifier = Field(description="Id of the key; also the Kafka key.")
    org_id: Identifier = Field(description="Organization that owns the key.")
    provider: ProviderId = Field(description="Provider the key is for.")
    name: str = Field(description="Display name, unique within the organization.")
    preview: str = Field(description="Masked preview: public prefix, '…', last 4 characters.")
    status: Literal["active", "deleted"] = Field(description="Deleted keys can never be used.")
    created_at: datetime = Field(description="When the key was stored.")
    created_by: str = Field(description="User who stored it.")
    budget_usd_monthly: float | None = Field(
        None, description="Monthly (UTC) spend cap of the key in USD; null = no budget."
    )
    expires_at: datetime | None = Field(
        None, description="When the key stops being used; null = it does not expire."
    )
