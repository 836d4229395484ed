"""KeyvaultClient: concurrent resolutions travel together, each keeps its own answer."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from agent_runner.clients.keyvault import KeyvaultClient
from agent_runner.domain import KeyUnavailableError, NotConfiguredError
from tests.agent_runner.fakes import FakeKeyvault, request


def client(kv: FakeKeyvault, requests: list[httpx.Request]) -> KeyvaultClient:
    def handler(r: httpx.Request) -> httpx.Response:
        requests.append(r)
        return kv.handler(r)

    http = httpx.AsyncClient(base_url="http://kv.test", transport=httpx.MockTransport(handler))
    return KeyvaultClient(http, retries=1, backoff_base=0.0, backoff_max=0.0)


async def test_concurrent_resolutions_share_one_call_and_keep_their_answers() -> None:
    kv = FakeKeyvault(keys={"anthropic": [("k1", "sk-ant-one-000000000000000")]})
    sent: list[httpx.Request] = []
    keys = client(kv, sent)
    asks = [request(execution_id=f"exec-{i}") for i in range(40)]
    outcomes = await asyncio.gather(
        *(keys.resolve(a, "anthropic") for a in asks[:39]),
        keys.resolve(asks[39], "openai"),
        return_exceptions=True,
    )
    assert len(sent) == 1  # one HTTP exchange carried all forty
    assert [c["execution_id"] for c in kv.calls] == [a.execution_id for a in asks]
    assert len({c["public_key"] for c in kv.calls}) == 40  # a fresh key pair each
    for outcome in outcomes[:39]:
        assert not isinstance(outcome, BaseException)
        assert outcome.key_id == "k1"
        assert outcome.secret.reveal() == "sk-ant-one-000000000000000"
    assert isinstance(outcomes[39], NotConfiguredError)


async def test_a_batch_that_fails_refuses_every_ask_after_its_retries() -> None:
    kv = FakeKeyvault(keys={"anthropic": [("k1", "sk-ant-one-000000000000000")]}, fail_status=503)
    sent: list[httpx.Request] = []
    keys = client(kv, sent)
    outcomes = await asyncio.gather(
        *(keys.resolve(request(execution_id=f"e-{i}"), "anthropic") for i in range(3)),
        return_exceptions=True,
    )
    assert len(sent) == 2  # the first try and one retry
    assert all(isinstance(o, KeyUnavailableError) for o in outcomes)
    assert "503" in str(outcomes[0])


async def test_a_refused_batch_says_why() -> None:
    kv = FakeKeyvault(fail_status=403)
    keys = client(kv, [])
    with pytest.raises(KeyUnavailableError, match="refused"):
        await keys.resolve(request(), "anthropic")
