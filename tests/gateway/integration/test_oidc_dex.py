"""A `prod` gateway against a real OIDC provider (Dex, started by deploy/local/dex.sh):
the provider's tokens sign in, with organization and role mapped from its `groups`; tokens
of another issuer, for another audience, expired, `alg: none`, and HS256 signed with the
provider's public key are refused with 401.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.contracts import Topics
from shared.kafka import ensure_topics
from tests.gateway.support import asgi_client, assert_problem
from tests.support.kafka import kafka_settings
from tests.support.oidc import GROUP_MAPPING, Dex, dex

PROD_TOKENS: dict[str, Any] = {
    f"service_token_{n}": secrets.token_urlsafe(32)
    for n in ("gateway", "keyvault", "workspace", "agent_runner")
}


@pytest.fixture(scope="module")
def provider() -> Iterator[Dex]:
    with dex(1) as running:
        yield running


@pytest.fixture(scope="module")
def short_lived() -> Iterator[Dex]:
    """A second, separate provider (another issuer) whose tokens live one second."""
    with dex(3, lifetime="1s") as running:
        yield running


async def prod_settings(issuer: str, kafka_bootstrap: str, **overrides: Any) -> GatewaySettings:
    """A prod gateway's settings; its topics exist first (prod never creates them)."""
    suffix = f".oidc{secrets.token_hex(3)}"
    await ensure_topics(kafka_settings(kafka_bootstrap), Topics(suffix))
    return GatewaySettings(
        flowtrux_env="prod",
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_suffix=suffix,
        log_format="text",
        gateway_oidc_issuer=issuer,
        **GROUP_MAPPING,
        **PROD_TOKENS,
        **overrides,
    )


@pytest.fixture
async def gateway(provider: Dex, kafka_bootstrap: str) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(await prod_settings(provider.issuer, kafka_bootstrap))) as c:
        yield c


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _json(segment: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return data


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return _json(head), _json(body)


async def test_provider_tokens_sign_in_with_org_and_role_from_groups(
    gateway: httpx.AsyncClient, provider: Dex
) -> None:
    owner = await asyncio.to_thread(provider.password_token, "owner@example.com")
    response = await me(gateway, owner)
    assert response.status_code == 200, response.text
    assert (response.json()["org_id"], response.json()["role"]) == ("org-oidc", "OWNER")
    member = await asyncio.to_thread(provider.password_token, "member@example.com")
    assert (await me(gateway, member)).json()["role"] == "MEMBER"
    # a member is signed in, but settings are for OWNERs
    refused = await gateway.get(
        "/api/v1/ai-providers", headers={"Authorization": f"Bearer {member}"}
    )
    assert_problem(refused, 403, "forbidden")


async def test_provider_user_without_an_organization_is_403(
    gateway: httpx.AsyncClient, provider: Dex
) -> None:
    nobody = await asyncio.to_thread(provider.password_token, "nobody@example.com")
    body = assert_problem(await me(gateway, nobody), 403, "no_membership")
    assert "groups" in body["detail"]


async def test_token_for_another_audience_is_401(gateway: httpx.AsyncClient, provider: Dex) -> None:
    other = await asyncio.to_thread(
        provider.password_token, "owner@example.com", client_id="other-app"
    )
    assert _segments(other)[1]["aud"] == "other-app"
    body = assert_problem(await me(gateway, other), 401, "unauthorized")
    assert "another audience" in body["detail"]


async def test_token_of_another_issuer_is_401(gateway: httpx.AsyncClient, short_lived: Dex) -> None:
    foreign = await asyncio.to_thread(short_lived.password_token, "owner@example.com")
    assert _segments(foreign)[1]["iss"] == short_lived.issuer
    assert_problem(await me(gateway, foreign), 401, "unauthorized")


async def test_expired_provider_token_is_401(short_lived: Dex, kafka_bootstrap: str) -> None:
    settings = await prod_settings(short_lived.issuer, kafka_bootstrap, gateway_oidc_leeway_s=0)
    async with asgi_client(create_app(settings)) as client:
        fresh = await asyncio.to_thread(short_lived.password_token, "owner@example.com")
        expires = _segments(fresh)[1]["exp"]
        while time.time() <= expires + 1:  # let it expire (the provider set a 1 s lifetime)
            await asyncio.sleep(0.2)
        body = assert_problem(await me(client, fresh), 401, "unauthorized")
        assert "expired" in body["detail"]


async def test_alg_none_and_hs256_with_the_public_key_are_401(
    gateway: httpx.AsyncClient, provider: Dex
) -> None:
    real = await asyncio.to_thread(provider.password_token, "owner@example.com")
    header, claims = _segments(real)
    unsigned = ".".join(
        [_b64(json.dumps({**header, "alg": "none"}).encode()), real.split(".")[1], ""]
    )
    body = assert_problem(await me(gateway, unsigned), 401, "unauthorized")
    assert "RS256 or ES256" in body["detail"]

    # The algorithm-confusion attack: HMAC keyed with the provider's published public key.
    jwks = await asyncio.to_thread(provider.jwks)
    entry = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public_key = RSAAlgorithm.from_jwk(entry)
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}).encode())
    payload = _b64(json.dumps({**claims, "groups": ["org:victim", "role:OWNER"]}).encode())
    mac = hmac.new(public_pem, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    confused = f"{head}.{payload}.{_b64(mac)}"
    body = assert_problem(await me(gateway, confused), 401, "unauthorized")
    assert "RS256 or ES256" in body["detail"]
    # and the real token still works: nothing above poisoned the key cache
    assert (await me(gateway, real)).status_code == 200
    assert jwt.get_unverified_header(real)["alg"] == "RS256"
