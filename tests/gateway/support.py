"""Reusable helpers for gateway tests (and the e2e suite): tokens, problem checks, a stack.

`stack(...)` runs the REAL keyvault and workspace apps and one or more gateway replicas on
loopback ports inside the test's event loop, with a per-test topic suffix and databases.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt

from gateway.auth import issue_token
from gateway.settings import GatewaySettings

SECRET = "test-gateway-jwt-secret-0123456789abcdef"
PROBLEM = "application/problem+json"


def token(
    org: str,
    role: str = "OWNER",
    *,
    sub: str = "user-1",
    platform_admin: bool = False,
    secret: str = SECRET,
    ttl: timedelta = timedelta(hours=1),
) -> str:
    return issue_token(
        secret, org_id=org, role=role, sub=sub, platform_admin=platform_admin, ttl=ttl
    )


def auth(org: str, role: str = "OWNER", **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(org, role, **kwargs)}"}


def raw_token(claims: dict[str, Any], *, secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response is problem+json with the given status (and code)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "code"}, body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def gateway_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {"gateway_jwt_secret": SECRET, "log_format": "text"}
    values.update(overrides)
    return GatewaySettings(**values)


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeUpstreams:
    """An httpx transport playing keyvault (port 8081) and workspace (8082) for unit tests."""

    routes: dict[tuple[str, str, str], Handler | httpx.Response] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)
    down: set[str] = field(default_factory=set)

    def on(self, service: str, method: str, path: str, answer: Handler | httpx.Response) -> None:
        self.routes[(service, method, path)] = answer

    def _service(self, request: httpx.Request) -> str:
        return "keyvault" if request.url.port == 8081 else "workspace"

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        service = self._service(request)
        if service in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        answer = self.routes.get((service, request.method, request.url.path))
        if answer is None:
            return httpx.Response(
                404,
                json={
                    "type": "x",
                    "title": "Not found",
                    "status": 404,
                    "detail": "nope",
                    "code": "not_found",
                },
            )
        return answer(request) if callable(answer) else answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def problem(status: int, code: str, detail: str = "upstream said no") -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(
            {"type": "x", "title": code, "status": status, "detail": detail, "code": code}
        ),
        headers={"content-type": PROBLEM},
    )


@contextlib.asynccontextmanager
async def asgi_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the app in-process, lifespan included."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client
