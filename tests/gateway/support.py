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

from gateway.service import issue_token
from gateway.settings import GatewaySettings
from shared.web import serve_lifespan
from tests.support.kafka import kafka_options

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


def problem_content(response: httpx.Response) -> dict[str, Any]:
    """A problem's body without its `instance` (which names the request, so differs per call):
    what two answers must share to be "the same problem"."""
    body: dict[str, Any] = response.json()
    body.pop("instance", None)
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


# --- a real stack on loopback ports (integration, fuzz, bench, e2e) -----------------------


def dev_keyring() -> str:
    """A fresh keyring for KEYVAULT_MASTER_KEYS (`id:base64key`)."""
    import base64
    import secrets

    return "t1:" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Stack:
    """The real keyvault and workspace apps plus gateway replicas, on loopback ports."""

    gateways: list[str]
    keyvault: str
    workspace: str
    bootstrap: str
    suffix: str
    settings: GatewaySettings

    @property
    def gateway(self) -> str:
        return self.gateways[0]


@contextlib.asynccontextmanager
async def stack(
    *,
    bootstrap: str,
    mongo_url: str,
    suffix: str,
    db_prefix: str,
    replicas: int = 1,
    gateway_overrides: dict[str, Any] | None = None,
    keyvault_overrides: dict[str, Any] | None = None,
    common_overrides: dict[str, Any] | None = None,
    gateway_port: int | None = None,
    wait_ready: bool = True,
) -> AsyncIterator[Stack]:
    """keyvault + workspace (real apps, real FerretDB and Kafka) and `replicas` gateways
    (`common_overrides`: settings of all three, e.g. service tokens; `gateway_port`: the
    first gateway's port, for a redirect URI registered in advance)."""
    import asyncio

    from gateway.app import create_app as create_gateway
    from keyvault.app import create_app as create_keyvault
    from keyvault.settings import KeyvaultSettings
    from tests.support.servers import free_port, serve
    from workspace.app import create_app as create_workspace
    from workspace.settings import WorkspaceSettings

    kv_port, ws_port = free_port(), free_port()
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "mongodb_url": mongo_url,
        "kafka_topic_suffix": suffix,
        "keyvault_url": f"http://127.0.0.1:{kv_port}",
        "workspace_url": f"http://127.0.0.1:{ws_port}",
        "log_format": "text",
        **(common_overrides or {}),
    }
    kv_settings = KeyvaultSettings(
        **{
            **common,
            "keyvault_db": f"{db_prefix}_kv",
            "keyvault_master_keys": dev_keyring(),
            **(keyvault_overrides or {}),
        }
    )
    ws_settings = WorkspaceSettings(**common, workspace_db=f"{db_prefix}_ws")
    gw_settings = gateway_settings(**{**common, **(gateway_overrides or {})})
    async with contextlib.AsyncExitStack() as exits:
        kv_url = await exits.enter_async_context(serve(create_keyvault(kv_settings), kv_port))
        ws_url = await exits.enter_async_context(serve(create_workspace(ws_settings), ws_port))
        gateways = [
            await exits.enter_async_context(
                serve(create_gateway(gw_settings), gateway_port if n == 0 else None)
            )
            for n in range(replicas)
        ]
        if wait_ready:
            async with httpx.AsyncClient() as client:
                for _ in range(300):
                    codes = [(await client.get(f"{g}/readyz")).status_code for g in gateways]
                    if all(c == 200 for c in codes):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError(f"gateway stack not ready: {codes}")
        yield Stack(gateways, kv_url, ws_url, bootstrap, suffix, gw_settings)


class FakeRunner:
    """Plays agent-runner for gateway tests: answers every request on the topic with a result."""

    def __init__(self, bootstrap: str, suffix: str, *, text: str = "Hi.") -> None:
        from shared.contracts import Topics

        self.bootstrap = bootstrap
        self.topics = Topics(suffix)
        self.text = text
        self.seen: list[Any] = []
        self._task: Any = None

    async def __aenter__(self) -> FakeRunner:
        import asyncio

        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        self._consumer = AIOKafkaConsumer(
            self.topics.execution_requested,
            **kafka_options(self.bootstrap),
            group_id=None,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )
        self._producer = AIOKafkaProducer(**kafka_options(self.bootstrap), linger_ms=0)
        await self._consumer.start()
        await self._producer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        from shared.contracts import (
            ExecutionOutput,
            ExecutionRequested,
            ExecutionResult,
            ExecutionUsage,
        )

        async for record in self._consumer:
            request = ExecutionRequested.model_validate_json(record.value)
            self.seen.append(request)
            result = ExecutionResult(
                execution_id=request.execution_id,
                org_id=request.org_id,
                workspace_id=request.workspace_id,
                workflow_id=request.workflow_id,
                node_id=request.node_id,
                status="succeeded",
                model=request.model,
                provider="anthropic",
                key_id="key-test",
                output=ExecutionOutput(
                    text=f"{self.text} {request.execution_id}", finish_reason="end_turn"
                ),
                usage=ExecutionUsage(input_tokens=3, output_tokens=2, cost_usd=0.00001),
                attempts=1,
                duration_ms=5,
            )
            await self._producer.send_and_wait(
                self.topics.execution_result,
                result.model_dump_json().encode(),
                key=request.execution_id.encode(),
            )

    async def __aexit__(self, *exc: object) -> None:
        import asyncio

        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        await self._consumer.stop()
        await self._producer.stop()


def provider_stub(status: int) -> Callable[[Any, Any, Any], Any]:
    """A provider endpoint (ASGI) answering every request with `status` (200 accepts keys,
    401 refuses them), so key verification never leaves the machine."""
    body = b'{"data": []}' if status == 200 else b'{"error": {"message": "invalid key"}}'

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await _stub(status, body, scope, receive, send)

    return app


async def _stub(status: int, body: bytes, scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ThreadedStack:
    """`stack(...)` plus a FakeRunner on their own event loop in a thread, for sync clients
    (schemathesis, benchmarks). Use as a context manager; `.stack` holds the running URLs."""

    def __init__(self, **stack_kwargs: Any) -> None:
        import threading

        self._kwargs = stack_kwargs
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="gateway-stack", daemon=True)
        self.stack: Stack | None = None

    def _main(self) -> None:
        import asyncio

        async def run() -> None:
            from tests.support.servers import serve

            self._stop = asyncio.Event()
            try:
                # Key verification goes to a local provider that accepts every key.
                async with serve(provider_stub(200)) as provider:
                    endpoints = {
                        f"runner_{p}_base_url": provider for p in ("anthropic", "openai", "google")
                    }
                    kwargs = {**self._kwargs, "keyvault_overrides": endpoints}
                    async with (
                        stack(**kwargs) as running,
                        FakeRunner(running.bootstrap, running.suffix),
                    ):
                        self.stack = running
                        self._ready.set()
                        await self._stop.wait()
            except BaseException as exc:
                self._error = exc
                self._ready.set()

        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(run())
        self._loop.close()

    def __enter__(self) -> Stack:
        self._thread.start()
        self._ready.wait(120)
        if self._error is not None:
            raise RuntimeError("stack failed to start") from self._error
        if self.stack is None:
            raise RuntimeError("stack did not start in time")
        return self.stack

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
