"""HTTP schemas of keyvault's internal API (request bodies and response shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from keyvault.domain import AuditEntry, ProviderKey
from shared.contracts import OrgAlertRaised


class KeyCreate(BaseModel):
    """A new provider key; `api_key` is write-only."""

    model_config = ConfigDict(extra="ignore")
    provider: str = Field(description="anthropic, openai or google.")
    name: str = Field(description="Display name, 1–64 characters, unique in the org.")
    api_key: SecretStr = Field(description="The provider API key (never returned).")
    verify: bool = Field(False, description="Check the key with the provider first.")
    actor: str = Field("", max_length=256, description="The user making the change.")
    budget_usd_monthly: float | None = Field(
        None, description="Monthly (UTC) budget in USD, > 0 and ≤ 10^7; null = none."
    )
    expires_at: datetime | None = Field(None, description="When the key expires; in the future.")


class KeyPatch(BaseModel):
    """A new name and/or a new value (replaced in place); at least one of them."""

    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(None, description="The new display name.")
    api_key: SecretStr | None = Field(None, description="The new value (never returned).")
    verify: bool = Field(False, description="Check the new value with the provider first.")
    actor: str = Field("", max_length=256, description="The user making the change.")
    budget_usd_monthly: float | None = Field(
        None, description="New monthly budget in USD; null clears it (only when sent)."
    )
    expires_at: datetime | None = Field(
        None, description="New expiry; null clears it (only when sent)."
    )


class KeyRead(BaseModel):
    """A provider key's metadata; never the key."""

    id: str
    org_id: str
    provider: str
    name: str
    preview: str
    status: Literal["active", "deleted"]
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    budget_usd_monthly: float | None = None
    expires_at: datetime | None = None
    spent_usd_month: float = Field(0.0, description="Settled spend this UTC month, in USD.")

    @classmethod
    def from_domain(cls, key: ProviderKey, spent: float = 0.0) -> KeyRead:
        return cls(
            id=key.id,
            org_id=key.org_id,
            provider=key.provider,
            name=key.name,
            preview=key.preview,
            status=key.status,
            created_at=key.created_at,
            created_by=key.created_by,
            last_used_at=key.last_used_at,
            budget_usd_monthly=key.budget_usd_monthly,
            expires_at=key.expires_at,
            spent_usd_month=spent,
        )


class KeyList(BaseModel):
    items: list[KeyRead]


class KeyCount(BaseModel):
    active: int


class AuditRead(BaseModel):
    at: datetime
    key_id: str
    workspace_id: str | None
    execution_id: str | None
    actor: str
    action: str

    @classmethod
    def from_domain(cls, entry: AuditEntry) -> AuditRead:
        return cls(
            at=entry.at,
            key_id=entry.key_id,
            workspace_id=entry.workspace_id,
            execution_id=entry.execution_id,
            actor=entry.actor,
            action=entry.action,
        )


class AuditList(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None = Field(None, description="The next page; null at the end.")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    org_id: str
    workspace_id: str
    provider: str
    execution_id: str
    public_key: str = Field(description="Base64 of the runner's 32 raw X25519 public-key bytes.")
    skip_key_ids: list[str] = Field(default_factory=list, max_length=100)
    estimate_usd: float | None = Field(
        None, ge=0, description="Conservative estimate of the call's cost, held on budgets."
    )


class ResolveResponse(BaseModel):
    key_id: str
    sealed: str = Field(description="Base64 of the key sealed to the given public key.")


MAX_RESOLVE_BATCH = 256


class ResolveBatchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    items: list[ResolveRequest] = Field(min_length=1, max_length=MAX_RESOLVE_BATCH)


class ResolveRefusal(BaseModel):
    """Why one item of a batch got no key: the status and code `/resolve` would answer."""

    status: int
    code: str
    detail: str


class ResolveBatchItem(BaseModel):
    """Either `key_id` and `sealed`, or `error`."""

    key_id: str | None = None
    sealed: str | None = None
    error: ResolveRefusal | None = None


class ResolveBatchResponse(BaseModel):
    items: list[ResolveBatchItem] = Field(description="One per request item, in order.")


class AlertList(BaseModel):
    """One page of an org's alerts, newest first."""

    items: list[OrgAlertRaised]
    next_cursor: str | None = Field(None, description="The next page; null at the end.")
