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


class Scripted:
    """keyvault answers from a script (the last repeats); counts the calls."""

    def __init__(self, kv: FakeKeyvault, script: list[httpx.Response | None]) -> None:
        self.kv = kv
        self.script = script
        self.calls = 0

    def handler(self, r: httpx.Request) -> httpx.Response:
        answer = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if answer is None:
            return self.kv.handler(r)
        return answer


def waiting_client(script: Scripted, *, wait_s: float) -> KeyvaultClient:
    http = httpx.AsyncClient(
        base_url="http://kv.test", transport=httpx.MockTransport(script.handler)
    )
    return KeyvaultClient(
        http,
        retries=0,
        backoff_base=0.0,
        backoff_max=0.0,
        wait_s=wait_s,
        wait_backoff_max_s=0.01,
    )


def item_refusal(code: str, status: int = 503) -> httpx.Response:
    return httpx.Response(
        200, json={"items": [{"error": {"status": status, "code": code, "detail": code}}]}
    )


@pytest.mark.parametrize(
    "unavailable",
    [
        httpx.Response(503, json={"code": "not_ready", "detail": "read models catching up"}),
        httpx.Response(500, json={"detail": "boom"}),
        item_refusal("store_unavailable"),
        item_refusal("not_ready"),
    ],
    ids=["503-not-ready", "500", "item-store-unavailable", "item-not-ready"],
)
async def test_keyvault_unable_to_answer_is_waited_for(unavailable: httpx.Response) -> None:
    kv = FakeKeyvault(keys={"anthropic": [("k1", "sk-ant-one-000000000000000")]})
    script = Scripted(kv, [unavailable, unavailable, unavailable, None])
    resolved = await waiting_client(script, wait_s=60).resolve(request(), "anthropic")
    assert resolved.key_id == "k1"
    assert script.calls == 4


async def test_keyvault_final_answers_are_not_waited_for() -> None:
    kv = FakeKeyvault(keys={"anthropic": [("k1", "sk-ant-one-000000000000000")]})
    script = Scripted(kv, [item_refusal("key_unavailable"), None])
    with pytest.raises(KeyUnavailableError):
        await waiting_client(script, wait_s=60).resolve(request(), "anthropic")
    assert script.calls == 1  # a key keyvault cannot decrypt is its answer, not an outage


async def test_the_key_wait_deadline_fails_with_the_setting_named() -> None:
    script = Scripted(FakeKeyvault(), [httpx.Response(503, json={"code": "not_ready"})])
    with pytest.raises(KeyUnavailableError) as failure:
        await waiting_client(script, wait_s=0.05).resolve(request(), "anthropic")
    assert "RUNNER_KEY_WAIT_S" in str(failure.value)
    assert "503 not_ready" in str(failure.value)
    assert script.calls >= 2
