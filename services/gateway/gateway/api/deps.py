"""Request dependencies: the gateway's collaborators and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.clients import unavailable
from gateway.domain import (
    ForbiddenError,
    IdentityProviderUnavailableError,
    InvalidTokenError,
    MembershipError,
    Principal,
    require_owner,
    require_platform_admin,
)
from gateway.service import Gateway
from shared.contracts import is_identifier
from shared.paging import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT
from shared.web import ProblemError


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


_bearer = HTTPBearer(
    auto_error=False,
    description="An access token of the organization's OIDC provider (in dev also an HS256 "
    "JWT with sub, org_id, role and exp).",
)


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "unauthorized", "a valid bearer token is required")
    gateway: Gateway = request.app.state.gateway
    try:
        return await gateway.verifier.verify(credentials.credentials)
    except InvalidTokenError as exc:
        raise ProblemError(401, "unauthorized", str(exc)) from None
    except MembershipError as exc:
        raise ProblemError(403, "no_membership", str(exc), title="Forbidden") from None
    except IdentityProviderUnavailableError:
        raise unavailable("the identity provider", "cannot be reached") from None


async def owner(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    try:
        return require_owner(principal)
    except ForbiddenError as exc:
        raise ProblemError(403, "forbidden", str(exc)) from None


async def platform_admin(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    try:
        return require_platform_admin(principal)
    except ForbiddenError as exc:
        raise ProblemError(403, "forbidden", str(exc)) from None


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
MemberDep = Annotated[Principal, Depends(authenticated)]
OwnerDep = Annotated[Principal, Depends(owner)]
PlatformAdminDep = Annotated[Principal, Depends(platform_admin)]


def object_id(value: str, what: str) -> str:
    """A path id; a malformed one is simply an object that does not exist (404)."""
    if not is_identifier(value):
        raise ProblemError(404, "not_found", f"{what} not found", title="Not found")
    return value


@dataclass(frozen=True)
class Page:
    """Which page of a newest-first list the caller wants."""

    limit: int
    cursor: str | None

    def params(self, **filters: str | None) -> dict[str, str | int]:
        """The query of the internal API's paged route (filters left out when unset)."""
        params: dict[str, str | int] = {"limit": self.limit}
        if self.cursor:
            params["cursor"] = self.cursor
        params.update({name: value for name, value in filters.items() if value})
        return params


async def page(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1–500).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=512,
            pattern=CURSOR_PATTERN,
            description="`next_cursor` of the previous page.",
        ),
    ] = None,
) -> Page:
    return Page(limit=limit, cursor=cursor)


PageDep = Annotated[Page, Depends(page)]
