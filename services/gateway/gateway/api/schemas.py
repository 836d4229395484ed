"""HTTP schemas of the public API (CONTRACT.md); request models refuse unknown fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from shared.contracts import (
    IDENTIFIER_MAX,
    IDENTIFIER_PATTERN,
    ExecutionError,
    ExecutionInput,
    ExecutionOutput,
    ExecutionUsage,
    ProviderId,
)

# What keyvault and workspace accept, so a schema-valid request is never refused upstream.
NAME_PATTERN = "^[^\x00-\x1f\x7f-\x9f]*[^\\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
# Provider keys are printable ASCII (they travel in HTTP headers).
SECRET_PATTERN = "^[!-~]+$"  # noqa: S105
NAME = Field(
    min_length=1,
    max_length=64,
    pattern=NAME_PATTERN,
    description="Display name: 1–64 characters, not blank, no control characters.",
)


NameText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NAME_PATTERN)]
SecretText = Annotated[
    str, StringConstraints(min_length=20, max_length=512, pattern=SECRET_PATTERN)
]


class Request(BaseModel):
    """A request body: unknown fields are refused with 422."""

    model_config = ConfigDict(extra="forbid")


class Reply(BaseModel):
    """A response body; fields the upstream adds beyond the contract are dropped."""

    model_config = ConfigDict(extra="ignore")


class Problem(BaseModel):
    """An error (RFC 9457 problem+json) with a machine-readable `code`."""

    type: str = Field(description="URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="HTTP status code.")
    detail: str = Field(description="What went wrong, for a human; never secret material.")
    code: str = Field(description="Machine-readable error code, e.g. `plan_limit_reached`.")
    instance: str | None = Field(
        None,
        description="The request this answers, `urn:flowtrux:request:<id>`; the same id is in"
        " the `X-Request-Id` response header (quote it when reporting a problem).",
    )


# --- provider keys -----------------------------------------------------------------------


Budget = Annotated[
    float,
    Field(gt=0, le=10_000_000, allow_inf_nan=False),
]
BUDGET_TEXT = (
    "Monthly (UTC calendar month) budget in USD: more than 0, at most 10^7; "
    "null = no budget. A run that would pass it fails over to the next key, else fails "
    "with budget_exceeded."
)
EXPIRES_TEXT = (
    "When the key expires (RFC 3339, in the future); an expired key is never used. null = never."
)


class ProviderKeyCreate(Request):
    """A provider API key to store; only its masked preview is ever shown again."""

    provider: ProviderId = Field(description="anthropic, openai or google.")
    name: str = NAME
    api_key: str = Field(
        min_length=20,
        max_length=512,
        pattern=SECRET_PATTERN,
        description="The secret key (20–512 printable ASCII characters); stored encrypted.",
    )
    verify: bool = Field(False, description="Ask the provider whether it accepts the key.")
    budget_usd_monthly: Budget | None = Field(None, description=BUDGET_TEXT)
    expires_at: AwareDatetime | None = Field(None, description=EXPIRES_TEXT)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "provider": "anthropic",
                    "name": "Production",
                    "api_key": "sk-ant-api03-XXXXXXXXXXXXXXXXXXXX",
                    "verify": False,
                }
            ]
        },
    )


class ProviderKeyUpdate(Request):
    """A new display name and/or a new value for the key (replaced in place)."""

    name: NameText | SkipJsonSchema[None] = Field(
        None, description="Display name: 1–64 characters, not blank, no control characters."
    )
    api_key: SecretText | SkipJsonSchema[None] = Field(
        None,
        description="A new secret value: fresh data key, new preview, same id and assignments.",
    )
    verify: bool = Field(False, description="Ask the provider whether it accepts the new value.")
    budget_usd_monthly: Budget | None = Field(
        None, description=f"{BUDGET_TEXT} Sent as null, clears the budget."
    )
    expires_at: AwareDatetime | None = Field(
        None, description=f"{EXPIRES_TEXT} Sent as null, clears the expiry."
    )
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["name"]},
                {"required": ["api_key"]},
                {"required": ["budget_usd_monthly"]},
                {"required": ["expires_at"]},
            ],
            "examples": [
                {"name": "Dev"},
                {"api_key": "sk-ant-api03-YYYYYYYYYYYYYYYYYYYY"},
                {"budget_usd_monthly": 100, "expires_at": "2027-03-01T00:00:00Z"},
            ],
        },
    )

    @model_validator(mode="after")
    def _name_or_api_key(self) -> ProviderKeyUpdate:
        limits = {"budget_usd_monthly", "expires_at"} & self.model_fields_set
        if self.name is None and self.api_key is None and not limits:
            raise ValueError("give a new name, api_key, budget_usd_monthly or expires_at")
        return self


class ProviderKey(Reply):
    """A stored provider key: metadata and masked preview only, never the key."""

    id: str = Field(description="Id of the key.")
    provider: ProviderId = Field(description="anthropic, openai or google.")
    name: str = Field(description="Display name, unique within the organization.")
    preview: str = Field(description="Public prefix, '…', last 4 characters.")
    created_at: datetime = Field(description="When it was stored.")
    created_by: str = Field(description="User who stored it.")
    last_used_at: datetime | None = Field(None, description="Last decryption for a run.")
    budget_usd_monthly: float | None = Field(
        None, description="Monthly (UTC) budget in USD; null = none."
    )
    expires_at: datetime | None = Field(
        None, description="When the key expires (never resolved after); null = never."
    )
    spent_usd_month: float = Field(0.0, description="Spent with this key this UTC month, USD.")


class ProviderKeyList(Reply):
    items: list[ProviderKey]


# --- catalog -----------------------------------------------------------------------------


class CatalogModelRead(Reply):
    id: str = Field(description="Model id, as used in executions.")
    best_for: str = Field(description="What the model is best for.")


class CatalogProviderRead(Reply):
    id: ProviderId
    name: str
    models: list[CatalogModelRead]


class Catalog(Reply):
    """Providers and their models, in catalog order."""

    providers: list[CatalogProviderRead]


# --- workspaces --------------------------------------------------------------------------


class WorkspaceCreate(Request):
    """A new workspace."""

    name: str = NAME
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Sales"}]})


WeightValue = Annotated[int, Field(ge=1, le=100)]


def _weights_schema(schema: dict[str, Any]) -> None:
    """Only key ids as names, at most 100 of them: what the validation enforces."""
    schema.pop("maxLength", None)  # pydantic's length of a dict is its number of properties
    patterned = schema.pop("patternProperties", None)
    if patterned:  # one weight schema for every name, the names checked by propertyNames
        (schema["additionalProperties"],) = patterned.values()
    schema.update(
        maxProperties=100,
        propertyNames={"pattern": IDENTIFIER_PATTERN, "maxLength": IDENTIFIER_MAX},
    )


class ProviderRoutingIn(Request):
    """How executions choose among the workspace's keys of one provider."""

    strategy: Literal["ordered", "round_robin"] = Field(
        description=(
            "`ordered`: the first usable key in assignment order, the next ones are failover "
            "(the default); `round_robin`: executions spread over the usable keys by weight."
        )
    )
    weights: (
        dict[
            Annotated[
                str, StringConstraints(pattern=IDENTIFIER_PATTERN, max_length=IDENTIFIER_MAX)
            ],
            WeightValue,
        ]
        | SkipJsonSchema[None]
    ) = Field(
        None,
        max_length=100,
        json_schema_extra=_weights_schema,
        description=(
            "round_robin only: assigned key id of this provider -> weight 1–100 (unlisted keys "
            "weigh 1)."
        ),
    )


class ProviderRouting(Reply):
    strategy: Literal["ordered", "round_robin"]
    weights: dict[str, int] = Field(default_factory=dict)


class WorkspaceUpdate(Request):
    """A new name, the ordered provider keys, the routing per provider and/or the max_tokens
    cap of test runs."""

    name: str | None = Field(
        None, min_length=1, max_length=64, pattern=NAME_PATTERN, description="Display name."
    )
    ai_provider_ids: (
        list[
            Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN, max_length=IDENTIFIER_MAX)]
        ]
        | None
    ) = Field(
        None,
        max_length=100,
        json_schema_extra=_weights_schema,
        description="Provider key ids, in the order the runner tries keys of one provider.",
    )
    budget_usd_monthly: Budget | None = Field(
        None, description=f"{BUDGET_TEXT} Sent as null, clears the budget."
    )
    routing: dict[ProviderId, ProviderRoutingIn] | SkipJsonSchema[None] = Field(
        None,
        description=(
            "Key choice per provider; replaces the workspace's routing as a whole (a provider "
            "not listed is `ordered`). Weights only for keys of that provider assigned here."
        ),
    )
    max_tokens_cap: int | None = Field(
        None,
        ge=1,
        le=200_000,
        description="Most `max_tokens` a test run may ask for; null removes the cap.",
    )
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"ai_provider_ids": ["key-1", "key-2"]},
                {"budget_usd_monthly": 250},
                {
                    "routing": {"anthropic": {"strategy": "round_robin", "weights": {"key-1": 3}}},
                    "max_tokens_cap": 4096,
                },
            ]
        },
    )


class Workspace(Reply):
    """A workspace and its assigned provider keys (ordered)."""

    id: str
    name: str
    ai_provider_ids: list[str] = Field(description="Assigned provider key ids, in order.")
    created_at: datetime
    budget_usd_monthly: float | None = Field(
        None, description="Monthly (UTC) budget in USD; null = none."
    )
    spent_usd_month: float = Field(0.0, description="Cost this UTC month, from the ledger, USD.")
    routing: dict[str, ProviderRouting] = Field(
        default_factory=dict, description="Key choice per provider (unlisted: `ordered`)."
    )
    max_tokens_cap: int | None = Field(
        None, description="Most `max_tokens` a test run may ask for; null is no cap."
    )


class WorkspaceList(Reply):
    items: list[Workspace]


class WorkspaceModel(Reply):
    id: str = Field(description="Model id.")
    provider: ProviderId
    best_for: str


class WorkspaceModelList(Reply):
    """The models this workspace may run: providers with at least one assigned key."""

    items: list[WorkspaceModel]


# --- executions --------------------------------------------------------------------------


class ChatMessageIn(Request):
    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: str = Field(min_length=1, max_length=1_000_000, description="The text of the turn.")


class ExecutionInputIn(Request):
    """Prompt and options (as `ExecutionInput` of the events)."""

    system: str | None = Field(None, max_length=1_000_000, description="System prompt, if any.")
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=1000)
    max_tokens: int = Field(1024, ge=1, le=200_000)
    temperature: float | None = Field(None, ge=0, le=2)

    def to_contract(self) -> ExecutionInput:
        return ExecutionInput.model_validate(self.model_dump())


class ExecutionCreate(Request):
    """A test run of one model in a workspace, as an Agent node would run it."""

    model: str = Field(min_length=1, max_length=128, description="Catalog model id.")
    input: ExecutionInputIn
    wait_seconds: float = Field(
        0, ge=0, le=60, description="How long to wait for the result before answering 202."
    )
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "claude-sonnet-4-6",
                    "input": {
                        "system": "You are terse.",
                        "messages": [{"role": "user", "content": "Hello"}],
                        "max_tokens": 256,
                    },
                    "wait_seconds": 10,
                }
            ]
        },
    )


class ExecutionQueued(Reply):
    """The execution was requested; its result is not in yet."""

    execution_id: str
    status: Literal["queued"] = "queued"


class Execution(Reply):
    """One execution and, once finished, its outcome (fields as in ExecutionResult)."""

    execution_id: str
    workspace_id: str
    status: Literal["queued", "succeeded", "failed"]
    model: str
    provider: ProviderId | None = None
    key_id: str | None = None
    output: ExecutionOutput | None = None
    usage: ExecutionUsage | None = None
    error: ExecutionError | None = None
    duration_ms: int | None = None
    key_name: str | None = Field(None, description="Name of the key used (null if none).")
    requested_at: datetime | None = Field(None, description="When it was requested.")
    finished_at: datetime | None = Field(None, description="When its result was published.")


class ExecutionPage(Reply):
    """A workspace's executions, newest first, one page at a time."""

    items: list[Execution]
    next_cursor: str | None = Field(description="Cursor of the next page; null at the end.")


# --- plan, usage, audit ------------------------------------------------------------------


class Limits(Reply):
    provider_keys: int | None = Field(description="Most provider keys; null is unlimited.")
    workspaces: int | None = Field(description="Most workspaces; null is unlimited.")


class PlanUsage(Reply):
    provider_keys: int
    workspaces: int
    executions_this_month: int
    cost_usd_this_month: float


class Plan(Reply):
    """The organization's plan, its limits and what is used of them."""

    plan: str
    limits: Limits
    usage: PlanUsage


class PlanChange(Request):
    """The plan to put an organization on."""

    plan: str = Field(min_length=1, max_length=64, description="starter, team or enterprise.")
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"plan": "team"}]})


class UsageRow(Reply):
    """Totals of one group; exactly one of key_id, workspace_id, model is present
    (and `day` with `interval=day`)."""

    key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    day: date | None = Field(None, description="The UTC day, with `interval=day`.")
    executions: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None


class UsageList(Reply):
    items: list[UsageRow]


class AuditEntry(Reply):
    at: datetime
    key_id: str | None = None
    workspace_id: str | None = None
    execution_id: str | None = None
    actor: str | None = None
    action: str = Field(description="created, renamed, key.replaced, deleted or resolved.")


class Alert(Reply):
    """A budget passed 50/80/100 % this month, or a key expires within 7 days."""

    alert_id: str = Field(description="Stable id: the same alert is raised once.")
    kind: Literal["budget", "key_expiry"]
    scope: Literal["key", "workspace"]
    scope_id: str = Field(description="The key id or workspace id.")
    threshold_pct: Literal[50, 80, 100] | None = None
    month: str | None = Field(None, description="Budget alerts: UTC month, YYYY-MM.")
    budget_usd: float | None = None
    spent_usd: float | None = None
    expires_at: datetime | None = None
    message: str
    at: datetime


class AlertList(Reply):
    """The organization's alerts, newest first, one page at a time."""

    items: list[Alert]
    next_cursor: str | None = Field(description="Cursor of the next page; null at the end.")


class AuditList(Reply):
    """Every decryption and every key change, newest first, one page at a time."""

    items: list[AuditEntry]
    next_cursor: str | None = Field(description="Cursor of the next page; null at the end.")


def drop_none_groups(row: dict[str, Any], group_by: str) -> dict[str, Any]:
    """A usage row with only its own group field (key_id, workspace_id or model)."""
    field = {"key": "key_id", "workspace": "workspace_id", "model": "model"}[group_by]
    keep = {field, "executions", "input_tokens", "output_tokens", "cost_usd"}
    if "day" in row:
        keep.add("day")
    return {k: row.get(k) for k in keep}


# --- session -----------------------------------------------------------------------------


class Me(Reply):
    """The signed-in caller, as the token says."""

    sub: str = Field(description="User id.")
    org_id: str = Field(description="Organization.")
    role: Literal["OWNER", "ADMIN", "MEMBER"]
    platform_admin: bool = False


class OidcOptions(Reply):
    """The organization's OIDC provider: the UI signs in with Authorization Code + PKCE."""

    issuer: str = Field(description="The provider's issuer URL (`iss` of its tokens).")
    client_id: str = Field(description="The UI's public client id.")
    scopes: list[str] = Field(description="Scopes to ask for.")
    authorization_endpoint: str = Field(description="Where the browser is sent to sign in.")
    token_endpoint: str = Field(description="Where the browser exchanges the code.")


class AuthOptions(Reply):
    """How a browser may sign in here."""

    dev_sign_in: bool = Field(description="Whether `POST /dev/sign-in` exists (dev only).")
    oidc: OidcOptions | None = Field(
        None, description="The OIDC provider to sign in with; null when none is configured."
    )


class DevSignIn(Request):
    """Who to sign in as (dev only)."""

    org_id: str = Field(
        min_length=1,
        max_length=IDENTIFIER_MAX,
        pattern=IDENTIFIER_PATTERN,
        description="Organization id.",
    )
    role: Literal["OWNER", "ADMIN", "MEMBER"] = Field(description="Role in the organization.")
    sub: str = Field(
        "dev-user", min_length=1, max_length=256, pattern=NAME_PATTERN, description="User id."
    )
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"org_id": "org-dev", "role": "OWNER"}]}
    )


class DevToken(Reply):
    """A dev user token (HS256)."""

    token: str
    expires_at: datetime
