"""In-process fakes for the runner's unit tests: keyvault's resolve endpoint, a scripted
provider, the dedupe store's in-memory twin and a publisher that keeps what it is given."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent_runner.clients.keyvault import KeyvaultClient
from agent_runner.domain import DedupeStore
from agent_runner.service import Executor, RunnerMetrics
from agent_runner.settings import RunnerSettings
from shared.catalog import load_prices
from shared.contracts import ExecutionRequested, ExecutionResult
from shared.crypto import seal, seal_context
from shared.http import DirectClient


@dataclass
class FakeKeyvault:
    """keys: provider -> [(key_id, secret)] in assignment order."""

    keys: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    fail_status: int | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        """keyvault's `POST /internal/v1/resolve-batch`: one answer per item."""
        assert request.url.path == "/internal/v1/resolve-batch"
        items = json.loads(request.content)["items"]
        self.calls.extend(items)
        if self.fail_status is not None:
            return httpx.Response(self.fail_status, json={"code": "boom", "detail": "down"})
        return httpx.Response(200, json={"items": [self._answer(body) for body in items]})

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        keys = self.keys.get(body["provider"], [])
        if not keys:
            detail = f"workspace {body['workspace_id']!r} has no {body['provider']} key"
            return {"error": {"status": 409, "code": "provider_not_configured", "detail": detail}}
        left = [k for k in keys if k[0] not in body["skip_key_ids"]]
        if not left:
            return {"error": {"status": 409, "code": "no_more_keys", "detail": "all skipped"}}
        key_id, secret = left[0]
        sealed = seal(
            base64.b64decode(body["public_key"]),
            secret.encode(),
            seal_context(execution_id=body["execution_id"], key_id=key_id),
        )
        return {"key_id": key_id, "sealed": base64.b64encode(sealed).decode()}


class InMemoryDedupeStore:
    """The in-memory twin of `MongoDedupeStore`: keyed by (org_id, execution_id)."""

    def __init__(self) -> None:
        self.claimed: set[tuple[str, str]] = set()
        self.results: dict[tuple[str, str], ExecutionResult] = {}
        self.released: list[tuple[str, str]] = []
        self.closed = False

    async def open(self) -> None:
        return None

    async def ping(self) -> bool:
        return not self.closed

    async def close(self) -> None:
        self.closed = True

    async def claim(self, *, org_id: str, execution_id: str) -> ExecutionResult | None:
        self.claimed.add((org_id, execution_id))
        return self.results.get((org_id, execution_id))

    async def put(self, *, result: ExecutionResult) -> ExecutionResult:
        return self.results.setdefault((result.org_id, result.execution_id), result)

    def release(self, *, org_id: str, execution_id: str) -> None:
        self.released.append((org_id, execution_id))


@dataclass
class ListPublisher:
    """Keeps every published result, in order, and the ids of those published `again`."""

    published: list[ExecutionResult] = field(default_factory=list)
    again: list[str] = field(default_factory=list)

    async def publish(self, result: ExecutionResult, *, again: bool = False) -> None:
        self.published.append(result)
        if again:
            self.again.append(result.execution_id)


Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class ScriptedProvider:
    """Answers provider calls from a list of responders (the last one repeats)."""

    script: list[Responder]
    requests: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        index = min(len(self.requests) - 1, len(self.script) - 1)
        return self.script[index](request)


def settings(**overrides: Any) -> RunnerSettings:
    base: dict[str, Any] = {
        "runner_anthropic_base_url": "http://anthropic.test",
        "runner_openai_base_url": "http://openai.test",
        "runner_google_base_url": "http://google.test",
        "keyvault_url": "http://keyvault.test",
        "runner_backoff_base_s": 0.0,
        "runner_backoff_max_s": 0.0,
        "runner_rate_limit_max_wait_s": 0.05,
        "runner_rate_limit_default_wait_s": 0.01,
    }
    base.update(overrides)
    return RunnerSettings(**base)


def executor(
    keyvault: FakeKeyvault, provider: ScriptedProvider, **overrides: Any
) -> tuple[Executor, RunnerMetrics]:
    s = settings(**overrides)
    metrics = RunnerMetrics()
    kv_http = httpx.AsyncClient(
        base_url=s.keyvault_url, transport=httpx.MockTransport(keyvault.handler)
    )
    prov_http = DirectClient(httpx.MockTransport(provider.handler), timeout=httpx.Timeout(5))
    return (
        Executor(
            s,
            http=prov_http,
            keyvault=KeyvaultClient(kv_http, retries=2, backoff_base=0.0, backoff_max=0.0),
            prices=load_prices(),
            metrics=metrics,
        ),
        metrics,
    )


def request(model: str = "claude-sonnet-4-6", **overrides: Any) -> ExecutionRequested:
    data: dict[str, Any] = {
        "execution_id": "exec-1",
        "org_id": "org-a",
        "workspace_id": "ws-1",
        "workflow_id": "wf-9",
        "node_id": "node-3",
        "model": model,
        "input": {
            "system": "You are terse.",
            "messages": [
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi"},
                {"role": "user", "content": "Again"},
            ],
            "max_tokens": 256,
            "temperature": 0.2,
        },
    }
    data.update(overrides)
    return ExecutionRequested.model_validate(data)


def anthropic_ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [{"type": "text", "text": "Hi."}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "output_tokens": 3},
        },
    )


def status(code: int, message: str = "nope", **headers: str) -> Responder:
    def respond(_: httpx.Request) -> httpx.Response:
        return httpx.Response(code, json={"error": {"message": message}}, headers=headers)

    return respond


class FailingPuts:
    """Wraps a dedupe store; recording the result of an execution whose id starts with one of
    `prefixes` fails (an infrastructure fault injected for one request), `puts` counts tries."""

    def __init__(self, inner: DedupeStore, *prefixes: str) -> None:
        self.inner = inner
        self.prefixes = prefixes
        self.failed_puts: list[str] = []

    async def open(self) -> None:
        await self.inner.open()

    async def ping(self) -> bool:
        return await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()

    async def claim(self, *, org_id: str, execution_id: str) -> ExecutionResult | None:
        return await self.inner.claim(org_id=org_id, execution_id=execution_id)

    def release(self, *, org_id: str, execution_id: str) -> None:
        self.inner.release(org_id=org_id, execution_id=execution_id)

    async def put(self, *, result: ExecutionResult) -> ExecutionResult:
        if result.execution_id.startswith(self.prefixes):
            self.failed_puts.append(result.execution_id)
            raise ConnectionError("injected: the store refused the write")
        return await self.inner.put(result=result)
