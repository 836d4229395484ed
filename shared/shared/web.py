"""HTTP helpers every FastAPI service uses: problem+json errors, service credentials,
request-size limits, and the internal HTTP client."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import redact
from shared.settings import BaseServiceSettings

PROBLEM = "application/problem+json"
log = logging.getLogger(__name__)


class ProblemError(Exception):
    """An error with an HTTP status and a machine-readable code; rendered as problem+json."""

    def __init__(self, status: int, code: str, detail: str, *, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or code.replace("_", " ").capitalize()


def problem_response(status: int, code: str, detail: str, title: str | None = None) -> JSONResponse:
    body = {
        "type": f"https://docs.flowtrux.dev/problems/{code}",
        "title": title or code.replace("_", " ").capitalize(),
        "status": status,
        "detail": redact(detail),
        "code": code,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json; validation errors name the field; never a traceback."""

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.detail, exc.title)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(422, "validation_error", _validation_detail(exc))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        codes = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        return problem_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error: %s", type(exc).__name__)
        return problem_response(500, "internal_error", "An internal error occurred.")


async def read_body(receive: Receive) -> bytes:
    """The whole request body of a plain ASGI app (for the few that run without a framework)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class BodySizeLimit:
    """ASGI middleware: refuses request bodies over `max_bytes` with 413 problem+json."""

    def __init__(self, app: ASGIApp, max_bytes: int = 64 * 1024) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise ProblemError(413, "payload_too_large", "request body too large")
            return message

        await self.app(scope, limited, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, "payload_too_large", f"request body larger than {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


def service_caller(
    settings: BaseServiceSettings, *, allowed: set[str] | None = None
) -> Callable[[Request], Awaitable[str]]:
    """A FastAPI dependency: the calling service's name from its bearer credential, else 401."""
    tokens = {
        name: tok.get_secret_value().encode() for name, tok in settings.service_tokens().items()
    }

    async def caller(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() == "bearer" and presented:
            for name, expected in tokens.items():
                if hmac.compare_digest(presented.encode(), expected):
                    if allowed is not None and name not in allowed:
                        raise ProblemError(403, "forbidden", f"service {name!r} may not call this")
                    return name
        raise ProblemError(401, "unauthorized", "a valid service credential is required")

    return caller


def internal_client(
    settings: BaseServiceSettings, *, caller: str, base_url: str, **kwargs: Any
) -> httpx.AsyncClient:
    """A pooled httpx client that presents `caller`'s service credential to `base_url`."""
    token = settings.service_tokens()[caller].get_secret_value()
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(settings.internal_http_timeout_s),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        **kwargs,
    )
