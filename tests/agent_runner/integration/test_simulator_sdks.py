"""The simulator is faithful: the official SDKs complete calls against it and parse replies."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from deploy.local.simulator import Simulator, create_app
from tests.support.servers import serve

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim() -> AsyncIterator[tuple[str, Simulator]]:
    app = create_app()
    async with serve(app) as url:
        yield url, app


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def test_anthropic_sdk(sim: tuple[str, Simulator]) -> None:
    url, app = sim
    key = "sk-ant-api03-sdk-test-key-AAAA1111"
    client = anthropic.AsyncAnthropic(api_key=key, base_url=url, max_retries=0)
    message = await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=64,
        system="You are terse.",
        messages=[{"role": "user", "content": "Hello there"}],
    )
    assert message.type == "message"
    assert message.content[0].type == "text"
    assert message.content[0].text == "[claude-sonnet-4-6] Hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    models = await client.models.list()
    assert "claude-sonnet-4-6" in [m.id for m in models.data]
    bad = anthropic.AsyncAnthropic(api_key="sk-ant-fail401-xxxxxxxx", base_url=url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        await bad.messages.create(
            model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    limited = anthropic.AsyncAnthropic(api_key="sk-ant-always429-yy", base_url=url, max_retries=0)
    with pytest.raises(anthropic.RateLimitError):
        await limited.messages.create(
            model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert app.records[0]["key_sha256"] == sha(key)  # the SDK sends Authorization: Bearer
    assert app.records[0]["key_last4"] == "1111"
    assert all(key not in str(r) for r in app.records)


async def test_anthropic_accepts_bearer_auth(sim: tuple[str, Simulator]) -> None:
    url, app = sim
    key = "sk-ant-api03-bearer-key-BBBB2222"
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            "/v1/messages",
            headers={"Authorization": f"Bearer {key}", "anthropic-version": "2023-06-01"},
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert response.status_code == 200
    assert app.records[-1]["key_sha256"] == sha(key)


async def test_openai_sdk(sim: tuple[str, Simulator]) -> None:
    url, app = sim
    key = "sk-proj-sdk-test-key-CCCC3333"
    client = openai.AsyncOpenAI(api_key=key, base_url=f"{url}/v1", max_retries=0)
    completion = await client.chat.completions.create(
        model="gpt-5",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello there"},
        ],
        max_completion_tokens=64,
        temperature=0.2,
    )
    assert completion.choices[0].message.content == "[gpt-5] Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    models = await client.models.list()
    assert "gpt-5" in [m.id for m in models.data]
    bad = openai.AsyncOpenAI(api_key="sk-fail401-zzzzzzzz", base_url=f"{url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await bad.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "x"}]
        )
    broken = openai.AsyncOpenAI(api_key="sk-fail500-zzzzzzzz", base_url=f"{url}/v1", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        await broken.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "x"}]
        )
    assert app.records[0]["key_sha256"] == sha(key)


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
async def test_google_genai_sdk(sim: tuple[str, Simulator], api_version: str) -> None:
    url, app = sim
    key = "AIzaSy-sdk-test-key-DDDD4444"
    client = genai.Client(
        api_key=key,
        http_options=genai_types.HttpOptions(base_url=url, api_version=api_version),
    )
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash",
        contents="Hello there",
        config=genai_types.GenerateContentConfig(
            system_instruction="You are terse.", max_output_tokens=64, temperature=0.2
        ),
    )
    assert response.text == "[gemini-2.5-flash] Hello there"
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert response.usage_metadata is not None
    assert (response.usage_metadata.candidates_token_count or 0) > 0
    assert app.records[0]["path"] == f"/{api_version}/models/gemini-2.5-flash:generateContent"
    assert app.records[0]["key_sha256"] == sha(key)
    names = [m.name async for m in await client.aio.models.list()]
    assert "models/gemini-2.5-flash" in names
    bad = genai.Client(
        api_key="AIza-fail401-wwwwwwww",
        http_options=genai_types.HttpOptions(base_url=url, api_version=api_version),
    )
    with pytest.raises(genai_errors.ClientError) as caught:
        await bad.aio.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert caught.value.code == 401


async def test_missing_key_is_401_and_records_redact_keys(sim: tuple[str, Simulator]) -> None:
    url, _app = sim
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.post("/v1/chat/completions", json={})).status_code == 401
        clear = await http.delete("/_sim/requests")
        assert clear.status_code == 200
        listed = (await http.get("/_sim/requests")).json()
    assert listed == {"items": []}


async def test_calls_are_counted_per_prompt(sim: tuple[str, Simulator]) -> None:
    url, _app = sim
    body = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "count me"}]}
    auth = {"Authorization": "Bearer sk-proj-count-000000000000000000"}
    async with httpx.AsyncClient(base_url=url) as http:
        await http.delete("/_sim/requests")
        for _ in range(3):
            assert (await http.post("/v1/chat/completions", json=body, headers=auth)).is_success
        other = {**body, "messages": [{"role": "user", "content": "once"}]}
        assert (await http.post("/v1/chat/completions", json=other, headers=auth)).is_success
        counted = (await http.get("/_sim/calls")).json()
        await http.delete("/_sim/requests")
        cleared = (await http.get("/_sim/calls")).json()
    assert counted["total"] == 4
    assert counted["by_prompt"] == {
        hashlib.sha256(b"count me").hexdigest(): 3,
        hashlib.sha256(b"once").hexdigest(): 1,
    }
    assert cleared == {"total": 0, "by_prompt": {}}
