"""The runner end to end: real Kafka, FerretDB, keyvault and the provider simulator."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from shared.contracts import ErrorCode
from tests.agent_runner.integration.conftest import Stack
from tests.support.kafka import kafka_options

pytestmark = pytest.mark.integration

CANARY = "sk-ant-env-canary-must-never-be-used-0000"
PROVIDER_KEYS = {
    "anthropic": ("claude-sonnet-4-6", "sk-ant-api03-simkeyAnthropicAAAAAAAA1111"),
    "openai": ("gpt-5", "sk-proj-simkeyOpenAIBBBBBBBBBBBBBBBB2222"),
    "google": ("gemini-2.5-flash", "AIzaSySimkeyGoogleCCCCCCCCCCCCCC3333"),
}


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ids(n: int = 1) -> list[str]:
    return [f"exec-{uuid.uuid4().hex[:12]}" for _ in range(n)]


async def test_each_provider_end_to_end(stack: Stack, capfd: pytest.CaptureFixture[str]) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key_ids = {
        p: await stack.create_key(org, p, secret) for p, (_, secret) in PROVIDER_KEYS.items()
    }
    await stack.assign(org, ws, list(key_ids.values()))
    execs = {p: ids()[0] for p in PROVIDER_KEYS}
    async with stack.runner() as url:
        for provider, (model, _) in PROVIDER_KEYS.items():
            await stack.request(execs[provider], org, ws, model)
        results = await stack.wait_results(set(execs.values()))
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
            metrics = (await http.get("/metrics")).text
    assert (
        'flowtrux_runner_executions_total{code="",model="gpt-5",provider="openai",'
        'status="succeeded"} 1.0'
    ) in metrics
    assert "flowtrux_runner_provider_latency_seconds_bucket" in metrics
    assert 'flowtrux_kafka_consumer_lag{consumer="agent-runner"' in metrics
    received = {r["provider"]: r for r in stack.sim.records}
    for provider, (model, secret) in PROVIDER_KEYS.items():
        result = results[execs[provider]]
        assert result.status == "succeeded", result.error
        assert result.provider == provider
        assert result.key_id == key_ids[provider]
        assert result.output is not None
        assert result.output.text.startswith(f"[{model}]")
        assert result.usage is not None
        assert result.usage.output_tokens > 0
        assert result.usage.cost_usd is not None
        assert result.attempts == 1
        assert received[provider]["key_sha256"] == sha(secret)
        assert secret not in result.model_dump_json()
    out, err = capfd.readouterr()
    for _, secret in PROVIDER_KEYS.values():
        assert secret not in out + err


async def test_no_key_is_provider_not_configured_and_env_keys_are_ignored(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(name, CANARY)
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    (exec_a, exec_g, exec_o) = ids(3)
    async with stack.runner():
        await stack.request(exec_a, org, ws, "claude-haiku-4-5")
        await stack.request(exec_g, org, ws, "gemini-2.0-flash")
        results = await stack.wait_results({exec_a, exec_g})
        assert list(stack.sim.records) == []  # nothing reached any provider
        # With a key assigned, the call carries that key and never the environment's.
        model, secret = PROVIDER_KEYS["openai"]
        await stack.assign(org, ws, [await stack.create_key(org, "openai", secret)])
        await stack.request(exec_o, org, ws, model)
        configured = (await stack.wait_results({exec_o}))[exec_o]
    for execution, provider in ((exec_a, "anthropic"), (exec_g, "google")):
        error = results[execution].error
        assert error is not None
        assert error.code == ErrorCode.PROVIDER_NOT_CONFIGURED
        assert ws in error.message
        assert provider in error.message
        assert results[execution].attempts == 0
    assert configured.status == "succeeded", configured.error
    assert [(r["provider"], r["key_sha256"]) for r in stack.sim.records] == [
        ("openai", sha(secret))
    ]
    assert sha(CANARY) not in {r["key_sha256"] for r in stack.sim.records}
    out, err = capfd.readouterr()
    assert CANARY not in out + err


async def test_unknown_model(stack: Stack) -> None:
    (execution,) = ids()
    async with stack.runner():
        await stack.request(execution, "org-x", "ws-x", "gpt-99-turbo")
        result = (await stack.wait_results({execution}))[execution]
    assert result.error is not None
    assert result.error.code == ErrorCode.MODEL_UNKNOWN
    assert result.provider is None


async def test_failover_to_second_key_on_401(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    bad, good = "sk-ant-api03-fail401-bad-key-XXXXXXXX9999", "sk-ant-api03-good-key-YYYYYYYYYY8888"
    first = await stack.create_key(org, "anthropic", bad)
    second = await stack.create_key(org, "anthropic", good)
    await stack.assign(org, ws, [first, second])
    (execution,) = ids()
    async with stack.runner():
        await stack.request(execution, org, ws, "claude-sonnet-4-6")
        result = (await stack.wait_results({execution}))[execution]
    assert result.status == "succeeded", result.error
    assert result.key_id == second
    assert result.attempts == 2
    assert [r["key_sha256"] for r in stack.sim.records] == [sha(bad), sha(good)]
    assert [r["status"] for r in stack.sim.records] == [401, 200]


async def test_every_key_refused_is_provider_auth_failed(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "openai", "sk-proj-fail401-only-key-ZZZZZZZZ7777")
    await stack.assign(org, ws, [key])
    (execution,) = ids()
    async with stack.runner():
        await stack.request(execution, org, ws, "gpt-5-mini")
        result = (await stack.wait_results({execution}))[execution]
    assert result.error is not None
    assert result.error.code == ErrorCode.PROVIDER_AUTH_FAILED
    assert result.key_id == key


async def test_rate_limited_then_success(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "google", "AIzaSy-rate429-key-WWWWWWWWWWWWWW6666")
    await stack.assign(org, ws, [key])
    (execution,) = ids()
    async with stack.runner():
        await stack.request(execution, org, ws, "gemini-2.5-pro")
        result = (await stack.wait_results({execution}))[execution]
    assert result.status == "succeeded", result.error
    assert result.attempts == 2
    assert result.duration_ms >= 900  # Retry-After: 1 honoured
    assert [r["status"] for r in stack.sim.records] == [429, 200]


async def test_always_rate_limited_gives_provider_rate_limited(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "anthropic", "sk-ant-api03-always429-VVVVVVVVVV5555")
    await stack.assign(org, ws, [key])
    (execution,) = ids()
    async with stack.runner(runner_rate_limit_max_wait_s=2.0):
        await stack.request(execution, org, ws, "claude-sonnet-4-6")
        result = (await stack.wait_results({execution}))[execution]
    assert result.error is not None
    assert result.error.code == ErrorCode.PROVIDER_RATE_LIMITED
    assert result.error.retryable
    assert result.attempts == 3


async def test_provider_5xx_gives_provider_unavailable(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "openai", "sk-proj-fail500-key-UUUUUUUUUUUUUU4444")
    await stack.assign(org, ws, [key])
    (execution,) = ids()
    async with stack.runner(runner_backoff_base_s=0.01, runner_backoff_max_s=0.05):
        await stack.request(execution, org, ws, "gpt-5")
        result = (await stack.wait_results({execution}))[execution]
    assert result.error is not None
    assert result.error.code == ErrorCode.PROVIDER_UNAVAILABLE
    assert result.attempts == 3


async def test_keyvault_unreachable_gives_key_unavailable(stack: Stack) -> None:
    """...once RUNNER_KEY_WAIT_S has passed (test_key_wait.py: it waits until then)."""
    (execution,) = ids()
    from tests.support.servers import free_port

    async with stack.runner(
        keyvault_url=f"http://127.0.0.1:{free_port()}",
        runner_backoff_base_s=0.01,
        runner_backoff_max_s=0.05,
        runner_key_wait_s=0.5,
    ):
        await stack.request(execution, "org-k", "ws-k", "gpt-5")
        result = (await stack.wait_results({execution}))[execution]
    assert result.error is not None
    assert result.error.code == ErrorCode.KEY_UNAVAILABLE
    assert list(stack.sim.records) == []


async def test_dead_letter_then_processing_continues(stack: Stack) -> None:
    bad_values = [b"{not json", b'{"execution_id": "x"}', "ünïcode but not json".encode()]
    (execution,) = ids()
    async with stack.runner():
        for i, value in enumerate(bad_values):
            await stack.send_raw(f"bad-{i}".encode(), value)
        await stack.request(execution, "org-d", "ws-d", "unknown-model-x")
        await stack.wait_results({execution})
        consumer = AIOKafkaConsumer(
            stack.topics.execution_requested_dlq,
            **kafka_options(stack.bootstrap),
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        seen: dict[bytes, tuple[bytes, dict[str, bytes]]] = {}
        try:
            async with asyncio.timeout(15):
                while len(seen) < len(bad_values):
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        for r in records:
                            seen[r.key] = (r.value, dict(r.headers))
        finally:
            await consumer.stop()
    for i, value in enumerate(bad_values):
        got_value, headers = seen[f"bad-{i}".encode()]
        assert got_value == value
        assert headers["x-error"].startswith(b"invalid ExecutionRequested")


async def test_redelivered_request_is_not_executed_again(stack: Stack) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "anthropic", "sk-ant-api03-once-key-TTTTTTTTTT3333")
    await stack.assign(org, ws, [key])
    (execution,) = ids()
    async with stack.runner():
        await stack.request(execution, org, ws, "claude-opus-4-6")
        first = (await stack.wait_results({execution}))[execution]
    # A redelivery (same request again, a new runner process reading the same store).
    async with stack.runner():
        await stack.request(execution, org, ws, "claude-opus-4-6")
        async with asyncio.timeout(20):
            while len(stack.results[execution]) < 2:
                await asyncio.sleep(0.05)
    again = stack.results[execution][1]
    assert again == first  # the very same result, event id included
    assert len(stack.sim.records) == 1
    # Marked as published again (keyvault's spend looks only such results up in its markers).
    assert stack.republished[execution] == [False, True]


async def test_an_execution_id_reused_by_another_org_runs_for_that_org(stack: Stack) -> None:
    """Execution ids are scoped by org: org B reusing an id org A used gets its own run."""
    ws_a, ws_b = f"ws-a-{stack.unique}", f"ws-b-{stack.unique}"
    org_a, org_b = f"org-a-{stack.unique}", f"org-b-{stack.unique}"
    secret_a = "sk-ant-api03-org-a-key-AAAAAAAAAA1111"
    secret_b = "sk-ant-api03-org-b-key-BBBBBBBBBB2222"
    key_a = await stack.create_key(org_a, "anthropic", secret_a)
    key_b = await stack.create_key(org_b, "anthropic", secret_b)
    await stack.assign(org_a, ws_a, [key_a])
    await stack.assign(org_b, ws_b, [key_b])
    execution = "exec-shared-1"
    async with stack.runner():
        await stack.request(execution, org_a, ws_a, "claude-opus-4-6", text="Alpha")
        first = (await stack.wait_results({execution}))[execution]
        await stack.request(execution, org_b, ws_b, "claude-opus-4-6", text="Bravo")
        async with asyncio.timeout(20):
            while len(stack.results[execution]) < 2:
                await asyncio.sleep(0.05)
        # B again (a redelivery of B's request) republishes B's result, not A's.
        await stack.request(execution, org_b, ws_b, "claude-opus-4-6", text="Bravo")
        async with asyncio.timeout(20):
            while len(stack.results[execution]) < 3:
                await asyncio.sleep(0.05)
    assert first.org_id == org_a
    assert first.output is not None
    assert "Alpha" in first.output.text
    for theirs in stack.results[execution][1:]:
        assert theirs.org_id == org_b
        assert theirs.event_id != first.event_id
        assert theirs.key_id == key_b
        assert theirs.output is not None
        assert "Bravo" in theirs.output.text
        assert "Alpha" not in theirs.output.text
    assert stack.results[execution][1] == stack.results[execution][2]
    assert [r["key_sha256"] for r in stack.sim.records] == [sha(secret_a), sha(secret_b)]
