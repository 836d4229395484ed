"""The UI's files (SPA fallback, caching, CSP) and the session routes, in-process."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from gateway.app import create_app
from tests.gateway.fakes import InMemoryExecutionBus
from tests.gateway.support import SECRET, FakeUpstreams, asgi_client, auth, gateway_settings
from tests.support.prod import PROD_VALUES

PROD_TOKENS = PROD_VALUES


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<!doctype html><script src="/assets/app-1a2b.js">')
    (tmp_path / "assets" / "app-1a2b.js").write_text("console.log('ui')")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("outside the build")
    return tmp_path


async def test_ui_files_spa_fallback_and_headers(dist: Path, upstreams: FakeUpstreams) -> None:
    settings = gateway_settings(gateway_web_dir=str(dist))
    app = create_app(settings, bus=InMemoryExecutionBus(), transport=upstreams.transport())
    async with asgi_client(app) as client:
        for path in ("/", "/settings/audit", "/workspaces/ws-1", "/index.html"):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.text.startswith("<!doctype html>")
            assert page.headers["cache-control"] == "no-cache"
            assert page.headers["x-frame-options"] == "DENY"
            csp = page.headers["content-security-policy"]
            assert "script-src 'self';" in csp
            assert "connect-src 'self';" in csp
            assert csp.endswith("frame-ancestors 'none'")
            assert "unsafe" not in csp
        asset = await client.get("/assets/app-1a2b.js")
        assert asset.text == "console.log('ui')"
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        icon = await client.get("/favicon.svg")
        assert icon.headers["cache-control"] == "no-cache"
        escaped = await client.get("/assets/%2e%2e/%2e%2e/secret.txt")
        assert "outside the build" not in escaped.text
        # The API and the documents keep their meaning; unknown API paths stay problems.
        missing = await client.get("/api/v1/nothing-here")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.")
        assert (await client.post("/settings")).status_code in (404, 405)


async def test_without_a_build_the_ui_path_says_how_to_build_it(
    tmp_path: Path, upstreams: FakeUpstreams
) -> None:
    settings = gateway_settings(gateway_web_dir=str(tmp_path / "none"))
    app = create_app(settings, bus=InMemoryExecutionBus(), transport=upstreams.transport())
    async with asgi_client(app) as client:
        page = await client.get("/")
    assert page.status_code == 404
    assert page.json()["code"] == "ui_not_built"
    assert "make dev" in page.json()["detail"]


async def test_dev_sign_in_exists_only_in_dev(upstreams: FakeUpstreams) -> None:
    body = {"org_id": "org-a", "role": "ADMIN"}
    dev = create_app(
        gateway_settings(), bus=InMemoryExecutionBus(), transport=upstreams.transport()
    )
    async with asgi_client(dev) as client:
        options = (await client.get("/api/v1/auth/options")).json()
        assert options == {"dev_sign_in": True, "oidc": None}
        signed = await client.post("/api/v1/dev/sign-in", json=body)
        assert signed.status_code == 200
        claims = jwt.decode(signed.json()["token"], SECRET, algorithms=["HS256"])
        assert (claims["org_id"], claims["role"], claims["sub"]) == ("org-a", "ADMIN", "dev-user")
    prod_settings = gateway_settings(
        flowtrux_env="prod",
        gateway_oidc_issuer="https://id.example.test",
        gateway_oidc_client_id="flowtrux-ui",
        **PROD_VALUES,
    )
    prod = create_app(prod_settings, bus=InMemoryExecutionBus(), transport=upstreams.transport())
    async with asgi_client(prod) as client:  # (its /auth/options: tests/gateway/unit/test_oidc.py)
        refused = await client.post("/api/v1/dev/sign-in", json=body)
        assert refused.status_code == 404
        assert "token" not in refused.text


async def test_me_answers_from_the_token_alone(upstreams: FakeUpstreams) -> None:
    app = create_app(
        gateway_settings(), bus=InMemoryExecutionBus(), transport=upstreams.transport()
    )
    async with asgi_client(app) as client:
        me = await client.get("/api/v1/me", headers=auth("org-b", "MEMBER"))
        assert me.json() == {
            "sub": "user-1",
            "org_id": "org-b",
            "role": "MEMBER",
            "platform_admin": False,
        }
        assert (await client.get("/api/v1/me")).status_code == 401
    assert upstreams.seen == []


async def test_the_api_document_reads_in_its_order_whatever_the_routes_order(
    upstreams: FakeUpstreams,
) -> None:
    """The test-run route is registered first (it is matched most); the document still
    starts with the session and ends with executions and health."""
    from gateway.api.openapi import TAG_ORDER

    app = create_app(
        gateway_settings(), bus=InMemoryExecutionBus(), transport=upstreams.transport()
    )
    async with asgi_client(app) as client:
        doc = (await client.get("/openapi.json")).json()
    seen: list[str] = []
    for item in doc["paths"].values():
        for operation in item.values():
            for tag in operation.get("tags", [])[:1]:
                if tag not in seen:
                    seen.append(tag)
    assert seen == [t for t in TAG_ORDER if t in seen]
    assert seen[0] == "Session"
    assert set(seen) == set(TAG_ORDER)
