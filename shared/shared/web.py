"""HTTP helpers every FastAPI service uses: problem+json errors, service credentials,
request-size limits, and the internal HTTP client."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, cast

import httpx
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http import AiohttpTransport
from shared.logging import redact, request_id_var
from shared.settings import BaseServiceSettings

PROBLEM = "application/problem+json"
log = logging.getLogger(__name__)


class ProblemError(Exception):
    """An error with an HTTP status and a machine-readable code; rendered as problem+json."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or code.replace("_", " ").capitalize()
        self.headers = dict(headers or {})


def problem_body(status: int, code: str, detail: str, title: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with our machine-readable `code`; the detail is redacted; the
    `instance` names the request (`urn:flowtrux:request:<X-Request-Id>`) when there is one."""
    body: dict[str, Any] = {
        "type": f"https://docs.flowtrux.dev/problems/{code}",
        "title": title or code.replace("_", " ").capitalize(),
        "status": status,
        "detail": redact(detail),
        "code": code,
    }
    request_id = request_id_var.get()
    if request_id is not None:
        body["instance"] = f"urn:flowtrux:request:{request_id}"
    return body


def problem_response(status: int, code: str, detail: str, title: str | None = None) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, title), status_code=status, media_type=PROBLEM
    )


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class DomainError(Protocol):
    """What a service's domain error says about itself: an HTTP-like status, a machine code
    and a detail for humans (never secret material)."""

    status: int
    code: str
    detail: str


def install_problem_handlers(app: FastAPI, *domain_errors: type[Exception]) -> None:
    """Every error leaves as problem+json; validation errors name the field; never a traceback.

    `domain_errors` are a service's base error classes; each instance carries `status`,
    `code` and `detail`, so one mechanism maps every service's rules to HTTP. A 503 tells the
    caller when to try again.
    """

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        response = problem_response(exc.status, exc.code, exc.detail, exc.title)
        response.headers.update(exc.headers)
        return response

    async def _domain(_: Request, exc: Exception) -> JSONResponse:
        error = cast(DomainError, exc)
        response = problem_response(error.status, error.code, error.detail)
        retry_after = getattr(error, "retry_after_s", None)  # e.g. a 429 rate_limited
        if retry_after is not None:
            response.headers["Retry-After"] = str(int(retry_after))
        elif error.status == 503:
            response.headers["Retry-After"] = "1"
        return response

    for error_type in domain_errors:
        app.add_exception_handler(error_type, _domain)

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


Checks = Callable[[], Awaitable[Mapping[str, bool]]]


def readiness_response(checks: Mapping[str, bool]) -> JSONResponse:
    """The one readiness answer of every service: 200 `{"status": "ready", "checks"}` when
    every check passes, else 503 problem+json `dependency_unavailable` naming the failing
    ones, with the same `checks` (`"ok"` or `"unavailable"` each)."""
    named = {name: "ok" if up else "unavailable" for name, up in checks.items()}
    down = [name for name, up in checks.items() if not up]
    if not down:
        return JSONResponse({"status": "ready", "checks": named})
    body = problem_body(
        503, "dependency_unavailable", f"{', '.join(down)} unavailable", "Service unavailable"
    )
    return JSONResponse(
        {**body, "checks": named}, status_code=503, media_type=PROBLEM, headers={"Retry-After": "1"}
    )


def health_router(checks: Checks, **route: Any) -> APIRouter:
    """`/healthz` (the process answers) and `/readyz` (it can serve: `checks` all pass).

    `route` goes to both routes (tags, responses, include_in_schema for OpenAPI)."""
    router = APIRouter()

    @router.get("/healthz", **route)
    async def healthz() -> dict[str, str]:
        """Alive."""
        return {"status": "ok"}

    @router.get("/readyz", **route)
    async def readyz() -> JSONResponse:
        """Ready when every dependency this process needs answers; else 503 naming them."""
        return readiness_response(await checks())

    return router


async def serve_lifespan(receive: Receive, send: Send) -> None:
    """Answer an ASGI lifespan scope (startup, then shutdown) for a plain ASGI app."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


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
    """A FastAPI dependency: the calling service's name from its bearer credential, else 401.

    Only the tokens this service's settings hold are known (least privilege), so a service
    that is not in `allowed` and whose token is not held here simply gets 401.
    """
    held = settings.service_tokens()
    if allowed is not None and not allowed <= held.keys():
        missing = ", ".join(sorted(allowed - held.keys()))
        raise RuntimeError(f"{type(settings).__name__} does not hold the token(s) of {missing}")
    tokens = {name: tok.get_secret_value().encode() for name, tok in held.items()}

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
    """A pooled httpx client that presents `caller`'s service credential to `base_url`, and
    passes on the `X-Request-Id` of the request being served (one id across the services)."""
    token = settings.service_tokens()[caller].get_secret_value()
    hooks = kwargs.pop("event_hooks", {})
    hooks = {**hooks, "request": [*hooks.get("request", []), _forward_request_id]}
    # aiohttp's connection pool under the httpx API (shared.http: about a tenth of the
    # client CPU per call at high concurrency). Idle connections are let go after 2 s, well
    # before uvicorn's 5 s keep-alive closes them under a request about to reuse one.
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=2.0)
    if "transport" not in kwargs:
        kwargs["transport"] = AiohttpTransport(limits=limits)
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(settings.internal_http_timeout_s),
        limits=limits,
        event_hooks=hooks,
        **kwargs,
    )


async def _forward_request_id(request: httpx.Request) -> None:
    request_id = request_id_var.get()
    if request_id is not None and "x-request-id" not in request.headers:
        request.headers["X-Request-Id"] = request_id
