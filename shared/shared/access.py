"""Request telemetry every HTTP service shares: the request id, the JSON access log and the
per-route metrics, in one ASGI middleware.

- `X-Request-Id`: a valid incoming one (1–128 of `A-Za-z0-9._:-`) is kept, anything else is
  replaced by a fresh one; it is echoed on every response, is the problem+json `instance`
  (`urn:flowtrux:request:<id>`) and travels on the services' internal calls.
- The access log (logger `flowtrux.access`): method, route template, path, status,
  duration_ms, request_id and trace_id: the trace of the span serving the request when
  tracing is on (`shared.tracing`), else the W3C `traceparent` the request came with (None
  without one). Probes and scrapes
  (`/healthz`, `/readyz`, `/metrics`) are counted but not logged.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import request_id_var
from shared.metrics import UNMATCHED, HttpMetrics, metrics_router

HEADER = "x-request-id"
_VALID_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})

access_log = logging.getLogger("flowtrux.access")


def current_request_id() -> str | None:
    """The id of the HTTP request being served, if any."""
    return request_id_var.get()


def accepted_request_id(incoming: str | None) -> str:
    """`incoming` if it is a well-formed request id, else a new one."""
    if incoming is not None and _VALID_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def current_trace_id(headers: dict[bytes, bytes]) -> str | None:
    """The trace id of the span serving this request when tracing is on (shared.tracing),
    else that of the request's own `traceparent` header."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return format(context.trace_id, "032x")
    return trace_id_from_traceparent(headers)


def trace_id_from_traceparent(headers: dict[bytes, bytes]) -> str | None:
    """The trace id of a W3C `traceparent` header (all-zero ids are invalid)."""
    raw = headers.get(b"traceparent", b"").decode("latin-1").strip().lower()
    match = _TRACEPARENT.fullmatch(raw)
    if match is None or set(match.group(1)) == {"0"}:
        return None
    return match.group(1)


def route_of(scope: Scope, root_path: str = "") -> str:
    """The matched route's full template, else `unmatched`.

    FastAPI (0.16x) includes routers lazily: `scope["route"]` is then the route as declared
    (without the include prefix) and the prefixed template is on the effective route context
    it records in `scope["fastapi"]`; that one wins when present. A mount point reached on the
    way (what the root path grew by) is prefixed too."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    candidates = (getattr(context, "starlette_route", None), context, scope.get("route"))
    for candidate in candidates:
        path = getattr(candidate, "path_format", None)
        if isinstance(path, str) and path:
            mounted = str(scope.get("root_path", ""))
            prefix = mounted[len(root_path) :] if mounted.startswith(root_path) else ""
            return prefix + path
    return UNMATCHED


class RequestTelemetry:
    """ASGI middleware: request id, access log and HTTP metrics for every request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        trace_id_of: Callable[[dict[bytes, bytes]], str | None] = current_trace_id,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.trace_id_of = trace_id_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(HEADER.encode())
        request_id = accepted_request_id(incoming.decode("latin-1") if incoming else None)
        root_path = str(scope.get("root_path", ""))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                out.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": out}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # Left set: the outermost error handler's problem+json still names the request.
            raise
        else:
            request_id_var.reset(token)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope, root_path)
            method = str(scope.get("method", ""))
            self.metrics.observe(method=method, route=route, status=status, seconds=seconds)
            path = str(scope.get("path", ""))
            if path not in _QUIET:
                access_log.info(
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "event": "http_request",
                        "method": method,
                        "route": route,
                        "path": path,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "request_id": request_id,
                        "trace_id": self.trace_id_of(headers),
                    },
                )


def install_telemetry(
    app: FastAPI,
    registry: CollectorRegistry,
    *,
    before: Iterable[Callable[[], Awaitable[None] | None]] = (),
    direct_only: bool = False,
    **route: Any,
) -> None:
    """Request id, access log and HTTP metrics on every request, and `GET /metrics` from
    `registry` (`direct_only`: not through a proxy; see `metrics_router`). Call it last in
    `create_app`, so it wraps the other middleware too."""
    app.add_middleware(RequestTelemetry, metrics=HttpMetrics(registry))
    app.include_router(metrics_router(registry, before=before, direct_only=direct_only, **route))
