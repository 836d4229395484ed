"""RUNNER_KEY_WAIT_S (issue 12, "wrongly failed"): while keyvault is down an execution waits and
retries instead of failing with `key_unavailable`; it succeeds once keyvault is back, and only
the deadline (counted from when the runner picked the request up) fails it, with a message that
names the setting. A keyvault app this test controls (same database and master keys as the
stack's) is started, stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import pytest

from agent_runner.app import create_app as create_runner
from keyvault.app import create_app as create_keyvault
from shared.contracts import ErrorCode
from tests.agent_runner.integration.conftest import Stack
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.integration


def calls_for(stack: Stack, execution_id: str) -> int:
    sha = hashlib.sha256(f"Hello ({execution_id})".encode()).hexdigest()
    return sum(1 for r in stack.sim.records if r.get("prompt_sha256") == sha)


async def test_executions_wait_for_keyvault_and_succeed_when_it_returns(stack: Stack) -> None:
    assert stack.kv_settings is not None
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    key = await stack.create_key(org, "openai", "sk-proj-keywait-KKKKKKKKKKKKKKKKK8888")
    await stack.assign(org, ws, [key])
    port = free_port()
    settings = stack.runner_settings(
        keyvault_url=f"http://127.0.0.1:{port}",
        runner_keyvault_retries=1,
        runner_backoff_base_s=0.05,
        runner_backoff_max_s=0.1,
        runner_key_wait_s=120.0,
        runner_key_wait_backoff_max_s=0.5,
    )
    runner_app = create_runner(settings)
    metrics = runner_app.state.runner.metrics.registry
    before = f"exec-before-{uuid.uuid4().hex[:8]}"
    during = [f"exec-during-{i}-{uuid.uuid4().hex[:8]}" for i in range(3)]
    async with serve(runner_app):
        async with serve(create_keyvault(stack.kv_settings), port=port):
            await stack.request(before, org, ws, "gpt-5-mini")
            assert (await stack.wait_results({before}))[before].status == "succeeded"
        # keyvault is down: the requests wait for it instead of failing.
        for execution in during:
            await stack.request(execution, org, ws, "gpt-5-mini")
        async with asyncio.timeout(30):
            while (metrics.get_sample_value("runner_key_waits_total") or 0) < len(during):
                await asyncio.sleep(0.05)
        assert not set(during) & stack.results.keys()
        async with serve(create_keyvault(stack.kv_settings), port=port):
            results = await stack.wait_results(set(during), timeout=60)
    for execution in during:
        assert results[execution].status == "succeeded", results[execution].error
        assert calls_for(stack, execution) == 1


async def test_the_deadline_fails_the_execution_with_a_message_naming_the_setting(
    stack: Stack,
) -> None:
    org, ws = f"org-{stack.unique}", f"ws-{stack.unique}"
    settings = stack.runner_settings(
        keyvault_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        runner_keyvault_retries=1,
        runner_backoff_base_s=0.05,
        runner_backoff_max_s=0.1,
        runner_key_wait_s=1.0,
        runner_key_wait_backoff_max_s=0.2,
    )
    execution = f"exec-deadline-{uuid.uuid4().hex[:8]}"
    async with serve(create_runner(settings)):
        await stack.request(execution, org, ws, "gpt-5-mini")
        result = (await stack.wait_results({execution}, timeout=60))[execution]
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.code == ErrorCode.KEY_UNAVAILABLE
    assert "RUNNER_KEY_WAIT_S" in result.error.message
    assert "unreachable" in result.error.message
    assert calls_for(stack, execution) == 0
