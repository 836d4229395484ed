"""The gateway's rules: who the caller is, what a role may do, and ids it accepts.

Imports only the standard library, pydantic and shared.contracts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from shared.contracts import ExecutionRequested, ExecutionResult, is_identifier


class Role(StrEnum):
    """A member's role in an organization."""

    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: user, organization (always from the token) and role."""

    user_id: str
    org_id: str
    role: Role
    platform_admin: bool = False


class InvalidTokenError(Exception):
    """The token is missing a claim or carries a malformed one."""


class ForbiddenError(Exception):
    """The caller's role does not allow the operation."""


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The caller from verified JWT claims; raises InvalidTokenError for any malformed claim."""
    sub, org_id, role = claims.get("sub"), claims.get("org_id"), claims.get("role")
    if not isinstance(sub, str) or not sub or len(sub) > 256:
        raise InvalidTokenError("claim 'sub' must be a non-empty string")
    if not isinstance(org_id, str) or not is_identifier(org_id):
        raise InvalidTokenError("claim 'org_id' must be an organization id")
    if role not in {r.value for r in Role}:
        raise InvalidTokenError("claim 'role' must be OWNER, ADMIN or MEMBER")
    admin = claims.get("platform_admin", False)
    if not isinstance(admin, bool):
        raise InvalidTokenError("claim 'platform_admin' must be a boolean")
    return Principal(user_id=sub, org_id=org_id, role=Role(role), platform_admin=admin)


def require_owner(principal: Principal) -> Principal:
    """Settings (keys, workspace changes, plan, usage, audit) are for OWNERs only."""
    if principal.role is not Role.OWNER:
        raise ForbiddenError("this needs the OWNER role of the organization")
    return principal


def require_platform_admin(principal: Principal) -> Principal:
    """Changing an organization's plan is for platform administrators only."""
    if not principal.platform_admin:
        raise ForbiddenError("this needs a platform administrator")
    return principal


# --- the Kafka port ----------------------------------------------------------------------


class BusUnavailableError(Exception):
    """Kafka did not take the message (or is not connected yet)."""


class ExecutionBus(Protocol):
    """Publishes execution requests and waits for their results."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...

    async def publish(self, request: ExecutionRequested) -> None: ...

    async def wait_for(
        self,
        org_id: str,
        execution_id: str,
        seconds: float,
        publish: Callable[[], Awaitable[None]],
    ) -> ExecutionResult | None:
        """Publish, then wait up to `seconds` for the org's result of `execution_id`
        (execution ids are scoped by org); None when none came in time."""
        ...
