"""The gateway's use cases: user tokens, and the answers it composes from keyvault,
workspace and Kafka (plan with key count, key names on executions, recorded test runs).

User tokens are HS256 JWTs with `sub`, `org_id`, `role`, `exp` (and `platform_admin`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt

from gateway.clients import Upstream, seg
from gateway.domain import (
    ExecutionBus,
    InvalidTokenError,
    Principal,
    Role,
    principal_from_claims,
)
from gateway.settings import GatewaySettings
from shared.contracts import ExecutionResult, utcnow
from shared.web import ProblemError

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "sub", "org_id", "role"]


def issue_token(
    secret: str,
    *,
    org_id: str,
    role: Role | str,
    sub: str = "dev-user",
    platform_admin: bool = False,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    """A signed user token (for `make token`, tests and the dev stack)."""
    now = utcnow()
    claims: dict[str, object] = {
        "sub": sub,
        "org_id": org_id,
        "role": str(Role(role)),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if platform_admin:
        claims["platform_admin"] = True
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    """The caller of a signed, unexpired HS256 token; raises InvalidTokenError otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": REQUIRED_CLAIMS, "verify_aud": False},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidTokenError("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidTokenError("the token is not valid") from exc
    return principal_from_claims(claims)


@dataclass
class Gateway:
    """What the handlers need: settings, the two internal services and the Kafka bus."""

    settings: GatewaySettings
    keyvault: Upstream
    workspace: Upstream
    bus: ExecutionBus


async def plan_with_key_count(gw: Gateway, org_id: str, plan: Any = None) -> dict[str, Any]:
    """Workspace's plan and usage (or `plan` as just set), with keyvault's count of keys."""
    org = seg(org_id)
    count_call = gw.keyvault.call("GET", f"/internal/v1/orgs/{org}/keys-count")
    if plan is None:
        plan_call = gw.workspace.call("GET", f"/internal/v1/orgs/{org}/plan")
        plan, count = await asyncio.gather(plan_call, count_call)
    else:
        count = await count_call
    usage = {**plan.get("usage", {}), "provider_keys": int(count.get("active", 0))}
    return {**plan, "usage": usage}


async def recorded(gw: Gateway, result: ExecutionResult) -> dict[str, Any]:
    """The result as the ledger holds it once recorded: what any gateway answers from now on.

    The ledger also ingests it from Kafka; recording it here first means no later read can
    show `queued` after this answer showed the outcome. If workspace is down, the answer is
    still the outcome (reads then answer 503 until it is back, never `queued`).
    """
    path = f"/internal/v1/orgs/{seg(result.org_id)}/executions/{seg(result.execution_id)}/result"
    body = result.model_dump(mode="json")
    try:
        stored: dict[str, Any] = await gw.workspace.call("POST", path, json=body)
    except ProblemError as exc:
        log.warning("recording a test run's result failed (%s); answering from Kafka", exc.code)
        return {**body, "finished_at": body.get("occurred_at")}
    return stored


async def key_names(gw: Gateway, org_id: str, key_ids: set[str]) -> dict[str, str]:
    """The names of the org's keys among `key_ids` (deleted keys keep their name); with
    keyvault unavailable, none (an answer without names rather than a failed one)."""
    if not key_ids:
        return {}
    try:
        data = await gw.keyvault.call(
            "GET", f"/internal/v1/orgs/{seg(org_id)}/keys", params={"include_deleted": "true"}
        )
    except ProblemError:
        return {}
    return {k["id"]: k["name"] for k in data.get("items", []) if k["id"] in key_ids}
