"""User tokens: HS256 JWTs with `sub`, `org_id`, `role`, `exp` (and `platform_admin`)."""

from __future__ import annotations

from datetime import timedelta

import jwt

from gateway.domain import InvalidTokenError, Principal, Role, principal_from_claims
from shared.contracts import utcnow

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
