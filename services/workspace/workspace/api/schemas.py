"""HTTP schemas of the internal API (request bodies and response shapes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import ExecutionResult, Identifier, PlanLimits, ProviderRouting
from shared.logging import redact
from workspace.domain import (
    IDEMPOTENCY_KEY_MAX,
    Admission,
    CatalogEntry,
    ExecutionRecord,
    RunRequest,
    UsageRow,
    Workspace,
    WorkspaceError,
)


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WorkspaceCreate(Body):
    name: str = Field(max_length=1000)


class WorkspacePatch(Body):
    name: str | None = Field(None, max_length=1000)
    ai_provider_ids: list[Identifier] | None = Field(None, max_length=1000)
    budget_usd_monthly: float | None = Field(
        None, description="Monthly (UTC) budget in USD, > 0 and ≤ 10^7; null clears it."
    )
    # Checked by the domain (routing.validate_routing), which names the offending field.
    routing: dict[str, Any] | None = Field(None, max_length=10)
    max_tokens_cap: Any = None


BATCH_MAX = 256


class RunAdmitOne(Body):
    """A test run of the workspace in the path (the one-run route of gateways before 2026-12)."""

    execution_id: Identifier
    max_tokens: int = Field(ge=1)
    body_hash: str = Field(min_length=1, max_length=128)
    idempotency_key: str | None = Field(None, min_length=1, max_length=IDEMPOTENCY_KEY_MAX)

    def to_domain(self, workspace_id: str) -> RunRequest:
        return RunRequest(
            workspace_id=workspace_id,
            execution_id=self.execution_id,
            max_tokens=self.max_tokens,
            body_hash=self.body_hash,
            idempotency_key=self.idempotency_key,
        )


class RunAdmit(RunAdmitOne):
    """A test run the gateway is about to request (its body hashed, never its prompt)."""

    workspace_id: Identifier

    def to_domain(self, workspace_id: str | None = None) -> RunRequest:
        return super().to_domain(workspace_id or self.workspace_id)


class RunAdmitBatch(Body):
    """Test runs of one org that a gateway is about to request, admitted in order."""

    items: list[RunAdmit] = Field(min_length=1, max_length=BATCH_MAX)


class Refusal(BaseModel):
    """Why one item of a batch was refused: what a single call would have answered."""

    status: int
    code: str
    detail: str
    retry_after_s: int | None = None

    @classmethod
    def from_domain(cls, error: WorkspaceError) -> Refusal:
        return cls(
            status=error.status,
            code=error.code,
            detail=redact(error.detail),
            retry_after_s=getattr(error, "retry_after_s", None),
        )


class AdmissionRead(BaseModel):
    """Run `execution_id` (or, `replay`, answer that earlier execution); or `refused`."""

    execution_id: str | None = None
    replay: bool = False
    refused: Refusal | None = None

    @classmethod
    def from_domain(cls, outcome: Admission | WorkspaceError) -> AdmissionRead:
        if isinstance(outcome, WorkspaceError):
            return cls(refused=Refusal.from_domain(outcome))
        return cls(execution_id=outcome.execution_id, replay=outcome.replay)


class AdmissionList(BaseModel):
    items: list[AdmissionRead]


class ResultBatch(Body):
    """Results of the org's test runs that a gateway already holds, to be recorded."""

    items: list[ExecutionResult] = Field(min_length=1, max_length=BATCH_MAX)


class PlanPut(Body):
    plan: str = Field(max_length=100)


class WorkspaceRead(BaseModel):
    id: str
    org_id: str
    name: str
    ai_provider_ids: list[str]
    created_at: datetime
    budget_usd_monthly: float | None = None
    spent_usd_month: float = Field(0.0, description="Cost this UTC month, from the ledger.")
    routing: dict[str, ProviderRouting] = Field(default_factory=dict)
    max_tokens_cap: int | None = None

    @classmethod
    def from_domain(cls, w: Workspace, spent: float = 0.0) -> WorkspaceRead:
        return cls(
            id=w.id,
            org_id=w.org_id,
            name=w.name,
            ai_provider_ids=list(w.key_ids),
            created_at=w.created_at,
            budget_usd_monthly=w.budget_usd_monthly,
            spent_usd_month=spent,
            routing=dict(w.routing),
            max_tokens_cap=w.max_tokens_cap,
        )


class WorkspaceList(BaseModel):
    items: list[WorkspaceRead]


class ModelRead(BaseModel):
    id: str
    provider: str
    best_for: str


class ModelList(BaseModel):
    items: list[ModelRead]

    @classmethod
    def from_domain(cls, models: Sequence[CatalogEntry]) -> ModelList:
        return cls(
            items=[ModelRead(id=m.id, provider=m.provider, best_for=m.best_for) for m in models]
        )


class PlanUsage(BaseModel):
    workspaces: int
    executions_this_month: int
    cost_usd_this_month: float | None


class PlanRead(BaseModel):
    plan: str
    limits: PlanLimits
    usage: PlanUsage


class ExecutionRead(BaseModel):
    """The contract's Execution."""

    execution_id: str
    workspace_id: str
    status: Literal["queued", "succeeded", "failed"]
    model: str
    provider: str | None
    key_id: str | None
    key_name: str | None = None
    output: dict[str, Any] | None
    usage: dict[str, Any] | None
    error: dict[str, Any] | None
    duration_ms: int | None
    requested_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def from_domain(cls, r: ExecutionRecord, key_name: str | None = None) -> ExecutionRead:
        finished = r.finished
        return cls(
            execution_id=r.execution_id,
            workspace_id=r.workspace_id,
            status=r.status,
            model=r.model,
            provider=r.provider,
            key_id=r.key_id,
            key_name=key_name,
            output=(
                {"text": r.output_text, "finish_reason": r.finish_reason}
                if r.output_text is not None
                else None
            ),
            usage=(
                {
                    "input_tokens": r.input_tokens or 0,
                    "output_tokens": r.output_tokens or 0,
                    "cost_usd": r.cost_usd,
                }
                if finished
                else None
            ),
            error=(
                {"code": r.error_code, "message": r.error_message, "retryable": r.error_retryable}
                if r.error_code
                else None
            ),
            duration_ms=r.duration_ms,
            requested_at=r.requested_at,
            finished_at=r.finished_at,
        )


class ExecutionPage(BaseModel):
    items: list[ExecutionRead]
    next_cursor: str | None


class ExecutionList(BaseModel):
    items: list[ExecutionRead]


def usage_items(group_by: str, rows: list[UsageRow]) -> dict[str, list[dict[str, Any]]]:
    field = {"key": "key_id", "workspace": "workspace_id", "model": "model"}[group_by]
    return {
        "items": [
            {
                field: row.group,
                **({"day": row.day.isoformat()} if row.day is not None else {}),
                "executions": row.executions,
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "cost_usd": row.cost_usd,
            }
            for row in rows
        ]
    }
