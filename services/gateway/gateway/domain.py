"""The gateway's rules: who the caller is, what a role may do, and ids it accepts.

Imports only the standard library, pydantic and shared.contracts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from shared.contracts import (
    ExecutionRequested,
    ExecutionResult,
    ProviderKeyChanged,
    WorkspaceAssignmentsChanged,
    is_identifier,
)


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


class MembershipError(ForbiddenError):
    """A verified token that names no organization or role this gateway accepts."""


class IdentityProviderUnavailableError(Exception):
    """The OIDC provider's discovery document or keys could not be fetched."""


@dataclass(frozen=True)
class ClaimMapping:
    """Where a token carries the organization and the role (GATEWAY_OIDC_*_CLAIM/_PREFIX).

    A claim may be a string or a list of strings (e.g. `groups`); with a prefix, only the
    entries that start with it count, and the prefix is removed (`org:acme` -> `acme`).
    Exactly one entry must count: none or several is refused.
    """

    org_claim: str = "org_id"
    role_claim: str = "role"
    org_prefix: str = ""
    role_prefix: str = ""

    def describe(self, what: str) -> str:
        claim, prefix = (
            (self.org_claim, self.org_prefix)
            if what == "org"
            else (self.role_claim, self.role_prefix)
        )
        return f"claim '{claim}'" + (f" (an entry '{prefix}<value>')" if prefix else "")


def _mapped(claims: dict[str, Any], name: str, prefix: str, describe: str) -> str | None:
    value = claims.get(name)
    entries = value if isinstance(value, list) else [] if value is None else [value]
    found = [e[len(prefix) :] for e in entries if isinstance(e, str) and e.startswith(prefix)]
    if len(found) > 1:
        raise MembershipError(f"{describe} names {len(found)} values; exactly one is needed")
    return found[0] if found else None


def principal_from_claims(claims: dict[str, Any], mapping: ClaimMapping | None = None) -> Principal:
    """The caller from verified JWT claims. A malformed `sub` raises InvalidTokenError; a
    missing or unacceptable organization or role raises MembershipError."""
    mapping = mapping or ClaimMapping()
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 256:
        raise InvalidTokenError("claim 'sub' must be a non-empty string")
    org_where, role_where = mapping.describe("org"), mapping.describe("role")
    org_id = _mapped(claims, mapping.org_claim, mapping.org_prefix, org_where)
    role = _mapped(claims, mapping.role_claim, mapping.role_prefix, role_where)
    if org_id is None or not is_identifier(org_id):
        raise MembershipError(f"{org_where} must name the caller's organization id")
    if role not in {r.value for r in Role}:
        raise MembershipError(f"{role_where} must be OWNER, ADMIN or MEMBER")
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


# --- the read model of workspaces and keys (GET /workspaces/{id}/models) ----------------


class ReadModelsBehindError(Exception):
    """The read model cannot prove it has applied every write made before the request."""


WS_NOT_FOUND = "workspace not found"


class WorkspaceNotFoundError(Exception):
    """The workspace is deleted, or belongs to another organization (answered as missing)."""


@dataclass(frozen=True)
class KnownWorkspace:
    """A workspace as `workspace.assignments.v1` last announced it."""

    org_id: str
    key_ids: tuple[str, ...]
    deleted: bool


@dataclass(frozen=True)
class KnownKey:
    """A provider key as `keyvault.keys.v1` last announced it (metadata only)."""

    org_id: str
    provider: str
    live: bool


class WorkspaceModelsView:
    """Which providers a workspace may use, from the compacted state topics.

    Answers only what it knows for sure: a workspace or an assigned key it has not heard of
    yet is `None` ("ask workspace"), never a guess; a deleted key stays deleted.
    """

    def __init__(self) -> None:
        self._workspaces: dict[str, KnownWorkspace] = {}
        self._keys: dict[str, KnownKey] = {}
        # Bumped by every key change of the org (and `_all` by one of an unknown org): what
        # was read from keyvault before a bump is out of date.
        self._key_changes: dict[str, int] = {}
        self._all_key_changes = 0

    def key_generation(self, org_id: str) -> tuple[int, int]:
        """Changes to `org_id`'s keys seen so far (compare, never interpret)."""
        return self._all_key_changes, self._key_changes.get(org_id, 0)

    def apply_workspace(self, workspace_id: str, event: WorkspaceAssignmentsChanged | None) -> None:
        """Record the workspace's latest state; a tombstone forgets it (unknown: ask)."""
        if event is None:
            self._workspaces.pop(workspace_id, None)
            return
        self._workspaces[workspace_id] = KnownWorkspace(
            org_id=event.org_id, key_ids=tuple(event.key_ids), deleted=event.deleted
        )

    def apply_key(self, key_id: str, event: ProviderKeyChanged | None) -> None:
        """Record the key's latest state; deletion is final (a replayed "active" cannot revive
        it), and a tombstone of a key counts as its deletion."""
        previous = self._keys.get(key_id)
        org_id = event.org_id if event is not None else previous.org_id if previous else None
        if org_id is None:
            self._all_key_changes += 1
        else:
            self._key_changes[org_id] = self._key_changes.get(org_id, 0) + 1
        if previous is not None and not previous.live:
            return
        if event is None:
            if previous is not None:
                self._keys[key_id] = KnownKey(previous.org_id, previous.provider, live=False)
            return
        self._keys[key_id] = KnownKey(
            org_id=event.org_id, provider=event.provider, live=event.status == "active"
        )

    def providers(self, org_id: str, workspace_id: str) -> set[str] | None:
        """Providers with a live key of `org_id` assigned to the workspace; None when the
        workspace or one of its keys is not known here. A deleted workspace, or another
        organization's, raises WorkspaceNotFoundError (the same answer as a missing one)."""
        workspace = self._workspaces.get(workspace_id)
        if workspace is None:
            return None
        if workspace.deleted or workspace.org_id != org_id:
            raise WorkspaceNotFoundError(workspace_id)
        found: set[str] = set()
        for key_id in workspace.key_ids:
            key = self._keys.get(key_id)
            if key is None:
                return None
            if key.live and key.org_id == org_id:
                found.add(key.provider)
        return found

    def __len__(self) -> int:
        return len(self._workspaces)


class Freshness(Protocol):
    """Proves the read model current as of the call; else raises ReadModelsBehindError."""

    async def check(self) -> None: ...
