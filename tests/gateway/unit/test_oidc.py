"""OIDC token verification against an in-process provider (discovery + JWKS on an httpx
MockTransport): every reason a token is refused, with its own message, the claim mapping,
the JWKS cache and its rate-limited refresh, /auth/options and the CSP.

The real provider (Dex) is exercised in tests/gateway/integration/test_oidc_dex.py and the
browser test; these tests pin the exact reasons, which need keys the test controls.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.settings import ProductionSettingsError
from tests.gateway.fakes import InMemoryExecutionBus
from tests.gateway.support import SECRET, FakeUpstreams, asgi_client, assert_problem, token
from tests.support.prod import PROD_KAFKA

ISSUER = "https://id.example.test/realm"
CLIENT = "flowtrux-ui"
PROD_TOKENS = {
    f"service_token_{n}": f"prod-{n}-token-0123456789abcdef0123456789"
    for n in ("gateway", "keyvault", "workspace", "agent_runner")
}


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Provider:
    """Discovery and JWKS of an issuer whose keys the test holds."""

    keys: dict[str, Any] = field(default_factory=dict)  # kid -> private key
    published: set[str] = field(default_factory=set)
    jwks_requests: int = 0
    down: bool = False

    def add(self, kid: str, key: Any, *, publish: bool = True) -> None:
        self.keys[kid] = key
        if publish:
            self.published.add(kid)

    def jwks(self) -> dict[str, Any]:
        entries = []
        for kid in sorted(self.published):
            key = self.keys[kid]
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
                jwk["alg"] = "RS256"
            else:
                jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
                jwk["alg"] = "ES256"
            entries.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": entries}

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/realm/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "jwks_uri": f"{ISSUER}/keys",
                    "authorization_endpoint": f"{ISSUER}/auth",
                    "token_endpoint": f"{ISSUER}/token",
                },
            )
        if request.url.path == "/realm/keys":
            self.jwks_requests += 1
            return httpx.Response(200, json=self.jwks())
        return httpx.Response(404)

    def sign(self, kid: str, alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT,
            "sub": "user-7",
            "iat": now,
            "exp": now + 600,
            "groups": ["org:org-acme", "role:OWNER", "staff"],
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.keys[kid], algorithm=alg, headers={"kid": kid})


def oidc_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "flowtrux_env": "prod",
        "gateway_jwt_secret": SECRET,
        "log_format": "text",
        "gateway_oidc_issuer": ISSUER,
        "gateway_oidc_client_id": CLIENT,
        "gateway_oidc_org_claim": "groups",
        "gateway_oidc_org_prefix": "org:",
        "gateway_oidc_role_claim": "groups",
        "gateway_oidc_role_prefix": "role:",
        **PROD_TOKENS,
        **PROD_KAFKA,
    }
    values.update(overrides)
    return GatewaySettings(**{k: v for k, v in values.items() if v is not None})


@pytest.fixture
def provider() -> Provider:
    p = Provider()
    p.add("k1", _rsa())
    return p


@pytest.fixture
async def gw(provider: Provider) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        oidc_settings(),
        bus=InMemoryExecutionBus(),
        transport=FakeUpstreams().transport(),
        oidc_transport=httpx.MockTransport(provider.handle),
    )
    async with asgi_client(app) as client:
        yield client


async def me(client: httpx.AsyncClient, bearer: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers={"Authorization": f"Bearer {bearer}"})


async def test_provider_token_signs_in_with_mapped_org_and_role(
    gw: httpx.AsyncClient, provider: Provider
) -> None:
    response = await me(gw, provider.sign("k1"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "sub": "user-7",
        "org_id": "org-acme",
        "role": "OWNER",
        "platform_admin": False,
    }


async def test_es256_tokens_are_accepted(gw: httpx.AsyncClient, provider: Provider) -> None:
    provider.add("e1", ec.generate_private_key(ec.SECP256R1()))
    response = await me(gw, provider.sign("e1", "ES256"))
    assert response.status_code == 200, response.text


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _public_pem(provider: Provider, kid: str) -> bytes:
    key = provider.keys[kid].public_key()
    pem: bytes = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def _hs256_with_public_key(provider: Provider) -> str:
    """The algorithm-confusion attack: HMAC keyed with the provider's public key."""
    import hashlib
    import hmac

    now = int(time.time())
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "k1"})
    claims = _b64(
        {
            "iss": ISSUER,
            "aud": CLIENT,
            "sub": "x",
            "exp": now + 600,
            "groups": ["org:o", "role:OWNER"],
        }
    )
    mac = hmac.new(_public_pem(provider, "k1"), f"{header}.{claims}".encode(), hashlib.sha256)
    signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    return f"{header}.{claims}.{signature}"


REFUSED: dict[str, tuple[Callable[[Provider], str], str]] = {
    "another issuer": (lambda p: p.sign("k1", iss="https://evil.example.test"), "another issuer"),
    "wrong audience": (lambda p: p.sign("k1", aud="another-app"), "another audience"),
    "expired": (lambda p: p.sign("k1", exp=int(time.time()) - 3600), "expired"),
    "not yet valid": (lambda p: p.sign("k1", nbf=int(time.time()) + 3600), "not valid yet"),
    "no exp": (lambda p: p.sign("k1", exp=None), "'exp'"),
    "no aud": (lambda p: p.sign("k1", aud=None), "'aud'"),
    "alg none": (
        lambda p: f"{_b64({'alg': 'none', 'kid': 'k1'})}.{_b64({'iss': ISSUER, 'aud': CLIENT})}.",
        "RS256 or ES256",
    ),
    "HS256 signed with the public key": (_hs256_with_public_key, "RS256 or ES256"),
    "HS256 dev token in prod": (lambda p: token("org-acme"), "RS256 or ES256"),
    "unknown signing key": (lambda p: _foreign(p), "not signed by a key"),
    "tampered payload": (lambda p: _tampered(p), "not valid"),
}


def _foreign(provider: Provider) -> str:
    provider.add("k-foreign", _rsa(), publish=False)
    return provider.sign("k-foreign")


def _tampered(provider: Provider) -> str:
    head, _, sig = provider.sign("k1").split(".")
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "x", "exp": int(time.time()) + 600}
    claims["groups"] = ["org:victim", "role:OWNER"]
    return f"{head}.{_b64(claims)}.{sig}"


@pytest.mark.parametrize("case", list(REFUSED))
async def test_refused_tokens_are_401_with_the_reason(
    gw: httpx.AsyncClient, provider: Provider, case: str
) -> None:
    make, reason = REFUSED[case]
    response = await me(gw, make(provider))
    body = assert_problem(response, 401, "unauthorized")
    assert reason in body["detail"], body


MEMBERSHIP = {
    "no org entry": (["role:OWNER"], "claim 'groups' (an entry 'org:<value>')"),
    "two orgs": (["org:a", "org:b", "role:OWNER"], "names 2 values"),
    "no role": (["org:org-acme"], "OWNER, ADMIN or MEMBER"),
    "unknown role": (["org:org-acme", "role:ROOT"], "OWNER, ADMIN or MEMBER"),
    "malformed org": (["org:../x y", "role:OWNER"], "organization id"),
}


@pytest.mark.parametrize("case", list(MEMBERSHIP))
async def test_verified_token_without_membership_is_403(
    gw: httpx.AsyncClient, provider: Provider, case: str
) -> None:
    groups, reason = MEMBERSHIP[case]
    response = await me(gw, provider.sign("k1", groups=groups))
    body = assert_problem(response, 403, "no_membership")
    assert reason in body["detail"], body


async def test_rotated_key_is_fetched_once_and_unknown_kids_are_rate_limited(
    gw: httpx.AsyncClient, provider: Provider
) -> None:
    assert (await me(gw, provider.sign("k1"))).status_code == 200
    assert provider.jwks_requests == 1
    assert (await me(gw, provider.sign("k1"))).status_code == 200
    assert provider.jwks_requests == 1  # cached
    # Forged kids right after a fetch: refused without asking the provider again.
    for n in range(5):
        provider.add(f"forged-{n}", _rsa(), publish=False)
        assert_problem(await me(gw, provider.sign(f"forged-{n}")), 401, "unauthorized")
    assert provider.jwks_requests == 1


async def test_unknown_kid_refreshes_the_keys() -> None:
    provider = Provider()
    provider.add("k1", _rsa())
    app = create_app(
        oidc_settings(gateway_oidc_jwks_min_refresh_s=0),
        bus=InMemoryExecutionBus(),
        oidc_transport=httpx.MockTransport(provider.handle),
    )
    async with asgi_client(app) as client:
        assert (await me(client, provider.sign("k1"))).status_code == 200
        provider.add("k2", _rsa())  # the provider rotates its signing key
        assert (await me(client, provider.sign("k2"))).status_code == 200
        assert provider.jwks_requests == 2
        provider.down = True  # unreachable: the cached keys keep working
        assert (await me(client, provider.sign("k1"))).status_code == 200


async def test_unreachable_provider_is_503_not_401() -> None:
    provider = Provider(down=True)
    provider.add("k1", _rsa())
    app = create_app(
        oidc_settings(),
        bus=InMemoryExecutionBus(),
        oidc_transport=httpx.MockTransport(provider.handle),
    )
    async with asgi_client(app) as client:
        assert_problem(await me(client, provider.sign("k1")), 503, "dependency_unavailable")
        assert_problem(await client.get("/api/v1/auth/options"), 503)


async def test_auth_options_tell_the_ui_how_to_sign_in(gw: httpx.AsyncClient) -> None:
    response = await gw.get("/api/v1/auth/options")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "dev_sign_in": False,
        "oidc": {
            "issuer": ISSUER,
            "client_id": CLIENT,
            "scopes": ["openid", "profile", "email"],
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
        },
    }


async def test_dev_accepts_dev_tokens_and_provider_tokens(provider: Provider) -> None:
    app = create_app(
        oidc_settings(flowtrux_env="dev"),
        bus=InMemoryExecutionBus(),
        oidc_transport=httpx.MockTransport(provider.handle),
    )
    async with asgi_client(app) as client:
        assert (await me(client, token("org-dev"))).json()["org_id"] == "org-dev"
        assert (await me(client, provider.sign("k1"))).json()["org_id"] == "org-acme"
        confusion = _hs256_with_public_key(provider)  # HS256 path: wrong secret
        assert_problem(await me(client, confusion), 401, "unauthorized")


def test_prod_needs_an_oidc_provider() -> None:
    with pytest.raises(ProductionSettingsError, match="GATEWAY_OIDC_ISSUER"):
        create_app(oidc_settings(gateway_oidc_issuer=""), bus=InMemoryExecutionBus())
    with pytest.raises(ProductionSettingsError, match="GATEWAY_OIDC_CLIENT_ID"):
        create_app(oidc_settings(gateway_oidc_client_id=""), bus=InMemoryExecutionBus())
    with pytest.raises(ProductionSettingsError, match="https"):
        create_app(
            oidc_settings(gateway_oidc_issuer="http://id.example.test"),
            bus=InMemoryExecutionBus(),
        )
    # the HS256 secret verifies nothing in prod: its dev default is not in the way
    create_app(oidc_settings(gateway_jwt_secret=None), bus=InMemoryExecutionBus())


async def test_ui_csp_allows_the_provider_for_the_code_exchange(
    gw: httpx.AsyncClient, tmp_path: Any
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
    app = create_app(oidc_settings(gateway_web_dir=str(tmp_path)), bus=InMemoryExecutionBus())
    async with asgi_client(app) as client:
        response = await client.get("/auth/callback?code=c&state=s")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "connect-src 'self' https://id.example.test;" in csp
    assert "script-src 'self';" in csp
