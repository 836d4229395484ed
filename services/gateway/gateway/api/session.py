"""Who is signed in, how to sign in, and the dev-only sign-in."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from gateway.api.deps import GatewayDep, MemberDep
from gateway.api.openapi import errors, ok
from gateway.api.schemas import AuthOptions, DevSignIn, DevToken, Me, OidcOptions
from gateway.clients import unavailable
from gateway.domain import IdentityProviderUnavailableError
from gateway.service import issue_token
from shared.contracts import utcnow
from shared.web import ProblemError

router = APIRouter(tags=["Session"])


@router.get(
    "/me",
    responses={
        **ok(200, {"sub": "user-1", "org_id": "org-a", "role": "OWNER", "platform_admin": False}),
        **errors(),
    },
)
async def get_me(who: MemberDep) -> Me:
    """The signed-in caller: user, organization and role."""
    return Me(
        sub=who.user_id, org_id=who.org_id, role=who.role.value, platform_admin=who.platform_admin
    )


@router.get(
    "/auth/options",
    responses={
        **ok(
            200,
            {
                "dev_sign_in": False,
                "oidc": {
                    "issuer": "https://id.example.com",
                    "client_id": "flowtrux-ui",
                    "scopes": ["openid", "profile", "email"],
                    "authorization_endpoint": "https://id.example.com/auth",
                    "token_endpoint": "https://id.example.com/token",
                },
            },
        ),
        503: errors(503)[503],  # no token needed, so never 401/403
    },
)
async def get_auth_options(gw: GatewayDep) -> AuthOptions:
    """How a browser signs in here (no token needed): the OIDC provider, and whether the
    dev sign-in exists."""
    settings = gw.settings
    oidc = None
    if gw.oidc is not None:
        try:
            doc = await gw.oidc.discovery()
        except IdentityProviderUnavailableError:
            raise unavailable("the identity provider", "cannot be reached") from None
        oidc = OidcOptions(
            issuer=settings.gateway_oidc_issuer,
            client_id=settings.gateway_oidc_client_id,
            scopes=settings.oidc_scopes(),
            authorization_endpoint=doc["authorization_endpoint"],
            token_endpoint=doc["token_endpoint"],
        )
    return AuthOptions(dev_sign_in=settings.dev_sign_in_enabled(), oidc=oidc)


@router.post(
    "/dev/sign-in",
    responses={
        **ok(200, {"token": "eyJ…", "expires_at": "2026-01-05T22:00:00Z"}),
        **errors(404, 413, 422),
    },
)
async def dev_sign_in(body: DevSignIn, gw: GatewayDep) -> DevToken:
    """A token for any organization and role: development only, 404 with FLOWTRUX_ENV=prod."""
    settings = gw.settings
    if not settings.dev_sign_in_enabled():
        raise ProblemError(404, "not_found", "Not Found", title="Not found")
    ttl = timedelta(seconds=settings.gateway_dev_token_ttl_s)
    token = issue_token(
        settings.gateway_jwt_secret.get_secret_value(),
        org_id=body.org_id,
        role=body.role,
        sub=body.sub,
        ttl=ttl,
    )
    return DevToken(token=token, expires_at=utcnow() + ttl)
