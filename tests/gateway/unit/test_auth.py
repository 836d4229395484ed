"""Every bad-token variety answers 401 problem+json; a good token passes."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from tests.gateway.support import SECRET, assert_problem, raw_token, token

NOW = int(time.time())
GOOD: dict[str, Any] = {"sub": "u1", "org_id": "org-a", "role": "MEMBER", "exp": NOW + 600}


def _without(claim: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != claim}


def _alg_none(claims: dict[str, Any]) -> str:
    def b64(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


BAD_HEADERS = {
    "missing": None,
    "empty bearer": "Bearer ",
    "basic scheme": "Basic dXNlcjpwYXNz",
    "not a jwt": "Bearer not-a-jwt",
    "garbage segments": "Bearer aaa.bbb.ccc",
    "wrong signature": "Bearer " + raw_token(GOOD, secret="another-secret-0123456789abcdef0123"),
    "expired": "Bearer " + raw_token({**GOOD, "exp": NOW - 3600}),
    "not yet valid": "Bearer " + raw_token({**GOOD, "nbf": NOW + 3600}),
    "missing sub": "Bearer " + raw_token(_without("sub")),
    "missing org_id": "Bearer " + raw_token(_without("org_id")),
    "missing role": "Bearer " + raw_token(_without("role")),
    "missing exp": "Bearer " + raw_token(_without("exp")),
    "unknown role": "Bearer " + raw_token({**GOOD, "role": "GOD"}),
    "lowercase role": "Bearer " + raw_token({**GOOD, "role": "owner"}),
    "malformed org": "Bearer " + raw_token({**GOOD, "org_id": "../other org"}),
    "empty sub": "Bearer " + raw_token({**GOOD, "sub": ""}),
    "platform_admin not bool": "Bearer " + raw_token({**GOOD, "platform_admin": "true"}),
    "alg none": "Bearer " + _alg_none(GOOD),
    "alg HS512": "Bearer " + raw_token(GOOD, alg="HS512"),
}


@pytest.mark.parametrize("header", list(BAD_HEADERS.values()), ids=list(BAD_HEADERS))
async def test_bad_token_is_401(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for path in ("/api/v1/catalog", "/api/v1/ai-providers", "/api/v1/workspaces"):
        response = await client.get(path, headers=headers)
        body = assert_problem(response, 401, "unauthorized")
        assert SECRET not in response.text
        assert "Traceback" not in body["detail"]


async def test_good_token_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/catalog", headers={"Authorization": f"Bearer {raw_token(GOOD)}"}
    )
    assert response.status_code == 200
    providers = response.json()["providers"]
    assert [p["id"] for p in providers] == ["anthropic", "openai", "google"]
    assert providers[0]["models"][0] == {
        "id": "claude-opus-4-6",
        "best_for": "Most capable, complex multi-step reasoning, 1M context",
    }


async def test_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/catalog", headers={"Authorization": f"bearer {token('org-a', 'MEMBER')}"}
    )
    assert response.status_code == 200
