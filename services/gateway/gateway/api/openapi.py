"""OpenAPI details: every error declared as problem+json, an example for every answer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.api.schemas import Problem

PROBLEM_MEDIA = "application/problem+json"

_DESCRIPTIONS = {
    400: "The request could not be read.",
    401: (
        "Missing, malformed, expired or wrongly signed token, or one of another issuer or "
        "audience (`unauthorized`, with the reason)."
    ),
    403: (
        "The caller's role does not allow this (`forbidden`), or a valid OIDC token names no "
        "organization or role the gateway accepts (`no_membership`)."
    ),
    404: "No such object in the caller's organization (another org's object looks the same).",
    405: "Method not allowed.",
    409: "Conflict: `plan_limit_reached`, `name_taken` or `idempotency_conflict`.",
    413: "Request body too large.",
    422: (
        "Invalid request (`validation_error`, `unknown_ai_provider`, `key_rejected`, "
        "`invalid_cursor`, ...)."
    ),
    429: "`rate_limited`: too many test runs of the organization; `Retry-After` says when.",
    503: "A dependency (keyvault, workspace, kafka or the identity provider) is unavailable.",
}

_EXAMPLE_CODES = {
    400: ("bad_request", "the request body is not valid JSON"),
    401: ("unauthorized", "a valid bearer token is required"),
    403: ("forbidden", "this needs the OWNER role of the organization"),
    404: ("not_found", "workspace not found"),
    405: ("method_not_allowed", "Method Not Allowed"),
    409: ("plan_limit_reached", "the starter plan allows 3 provider keys"),
    413: ("payload_too_large", "request body larger than 65536 bytes"),
    422: ("validation_error", "name: String should have at least 1 character"),
    429: ("rate_limited", "this organization may start 120 test runs per 60 s; try again in 12 s"),
    503: ("dependency_unavailable", "keyvault is unavailable; try again shortly"),
}


def _problem_example(status: int) -> dict[str, Any]:
    code, detail = _EXAMPLE_CODES[status]
    return {
        "type": f"https://docs.flowtrux.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
    }


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Declared error answers of a route; every route may also answer 401, 403 (an OIDC
    token without membership) and 503."""
    wanted = {401, 403, 503, *statuses}
    if 413 in wanted:  # a route with a body may also get one that is not UTF-8 JSON at all
        wanted.add(400)
    return {s: {"model": Problem, "description": _DESCRIPTIONS[s]} for s in sorted(wanted)}


def ok(status: int, example: Any, description: str = "Success.") -> dict[int | str, Any]:
    """A success answer with its example."""
    return {
        status: {"description": description, "content": {"application/json": {"example": example}}}
    }


TS = "2026-01-05T10:00:00Z"
PROVIDER_KEY = {
    "id": "key-5f2c",
    "provider": "anthropic",
    "name": "Production",
    "preview": "sk-ant-…x9Qa",
    "created_at": TS,
    "created_by": "user-1",
    "last_used_at": None,
    "budget_usd_monthly": 100.0,
    "expires_at": None,
    "spent_usd_month": 12.5,
}
WORKSPACE = {
    "id": "ws-1",
    "name": "Sales",
    "ai_provider_ids": ["key-5f2c"],
    "created_at": TS,
    "budget_usd_monthly": None,
    "spent_usd_month": 0.0,
    "routing": {"anthropic": {"strategy": "ordered", "weights": {}}},
    "max_tokens_cap": None,
}
EXECUTION = {
    "execution_id": "exec-1",
    "workspace_id": "ws-1",
    "status": "succeeded",
    "model": "claude-sonnet-4-6",
    "provider": "anthropic",
    "key_id": "key-5f2c",
    "output": {"text": "Hi.", "finish_reason": "end_turn"},
    "usage": {"input_tokens": 12, "output_tokens": 3, "cost_usd": 0.000081},
    "error": None,
    "duration_ms": 412,
}
PLAN = {
    "plan": "starter",
    "limits": {"provider_keys": 3, "workspaces": 3},
    "usage": {
        "provider_keys": 1,
        "workspaces": 1,
        "executions_this_month": 42,
        "cost_usd_this_month": 0.37,
    },
}


# The order the documentation reads in (the routes are registered in another: the busiest
# first, see api/__init__.py). Paths follow their first tag in this order.
TAG_ORDER = (
    "Session",
    "Catalog",
    "Plan and usage",
    "Platform administration",
    "AI providers",
    "Workspaces",
    "Executions",
    "Health",
)


def _in_reading_order(paths: dict[str, Any]) -> dict[str, Any]:
    def rank(item: tuple[str, Any]) -> int:
        tags = [t for op in item[1].values() for t in op.get("tags", [])]
        return TAG_ORDER.index(tags[0]) if tags and tags[0] in TAG_ORDER else len(TAG_ORDER)

    return dict(sorted(paths.items(), key=rank))


def install_openapi(app: FastAPI, *, plans: list[str]) -> None:
    """Generate the document once; error answers carry the problem+json media type."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=app.servers,
        )
        doc["paths"] = _in_reading_order(doc.get("paths", {}))
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema()
        for path_item in doc.get("paths", {}).values():
            for operation in path_item.values():
                for status, response in operation.get("responses", {}).items():
                    if status.isdigit() and int(status) >= 400:
                        response["content"] = {
                            PROBLEM_MEDIA: {
                                "schema": {"$ref": "#/components/schemas/Problem"},
                                "example": _problem_example(int(status)),
                            }
                        }
        # The plan table is configuration: the document names exactly the configured plans.
        schemas["PlanChange"]["properties"]["plan"]["enum"] = plans
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = doc
        return doc

    app.openapi = build  # type: ignore[method-assign]
