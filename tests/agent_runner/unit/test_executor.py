"""One execution against a fake keyvault and scripted providers: shapes, failover, retries."""

from __future__ import annotations

import json

import httpx

from shared.contracts import ErrorCode
from tests.agent_runner.fakes import (
    FakeKeyvault,
    ScriptedProvider,
    anthropic_ok,
    executor,
    request,
    status,
)

KEY_A = "sk-ant-api03-firstkeyAAAAAAAAAAAAAAAA1111"
KEY_B = "sk-ant-api03-secondkeyBBBBBBBBBBBBBBBB2222"


async def test_anthropic_request_shape_and_result() -> None:
    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A)]})
    prov = ScriptedProvider([anthropic_ok])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request())
    assert result is not None
    assert result.status == "succeeded"
    assert result.provider == "anthropic"
    assert result.key_id == "key-a"
    assert result.output is not None
    assert result.output.text == "Hi."
    assert result.output.finish_reason == "end_turn"
    assert result.usage is not None
    assert result.usage.input_tokens == 12
    assert result.usage.cost_usd == (12 * 3.0 + 3 * 15.0) / 1e6
    assert result.attempts == 1
    sent = prov.requests[0]
    assert str(sent.url) == "http://anthropic.test/v1/messages"
    assert sent.headers["x-api-key"] == KEY_A
    assert sent.headers["anthropic-version"] == "2023-06-01"
    body = json.loads(sent.content)
    assert body["system"] == "You are terse."
    assert body["max_tokens"] == 256
    assert body["temperature"] == 0.2
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert KEY_A not in result.model_dump_json()


async def test_openai_request_shape() -> None:
    kv = FakeKeyvault({"openai": [("key-o", "sk-proj-openaikeyOOOOOOOOOOOO9999")]})

    def ok(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Yo"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
            },
        )

    prov = ScriptedProvider([ok])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request("gpt-5"))
    assert result is not None
    assert result.status == "succeeded"
    assert result.output is not None
    assert (result.output.text, result.output.finish_reason) == ("Yo", "stop")
    assert result.usage is not None
    assert result.usage.output_tokens == 1
    sent = prov.requests[0]
    assert str(sent.url) == "http://openai.test/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-proj-openaikeyOOOOOOOOOOOO9999"
    body = json.loads(sent.content)
    assert body["max_completion_tokens"] == 256
    assert "max_tokens" not in body
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}


async def test_gemini_request_shape_and_key_never_in_url() -> None:
    key = "AIzaSyGeminiKeyGGGGGGGGGGGGGGGG7777"
    kv = FakeKeyvault({"google": [("key-g", key)]})

    def ok(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": "G"}]}, "finishReason": "STOP"}
                ],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1},
            },
        )

    prov = ScriptedProvider([ok])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request("gemini-2.5-flash"))
    assert result is not None
    assert result.status == "succeeded"
    assert result.output is not None
    assert result.output.finish_reason == "STOP"
    sent = prov.requests[0]
    assert str(sent.url) == "http://google.test/v1beta/models/gemini-2.5-flash:generateContent"
    assert key not in str(sent.url)
    assert sent.headers["x-goog-api-key"] == key
    body = json.loads(sent.content)
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"maxOutputTokens": 256, "temperature": 0.2}


async def test_unknown_model() -> None:
    kv = FakeKeyvault()
    ex, _ = executor(kv, ScriptedProvider([anthropic_ok]))
    result = await ex.execute(request("gpt-99"))
    assert result is not None
    assert result.error is not None
    assert result.error.code == ErrorCode.MODEL_UNKNOWN
    assert result.provider is None
    assert kv.calls == []


async def test_not_configured_carries_keyvault_message() -> None:
    kv = FakeKeyvault()
    prov = ScriptedProvider([anthropic_ok])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request())
    assert result is not None
    assert result.error is not None
    assert result.error.code == ErrorCode.PROVIDER_NOT_CONFIGURED
    assert "ws-1" in result.error.message
    assert "anthropic" in result.error.message
    assert prov.requests == []


async def test_failover_to_next_key_on_401() -> None:
    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A), ("key-b", KEY_B)]})
    prov = ScriptedProvider([status(401), anthropic_ok])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request())
    assert result is not None
    assert result.status == "succeeded"
    assert result.key_id == "key-b"
    assert result.attempts == 2
    assert kv.calls[1]["skip_key_ids"] == ["key-a"]
    assert prov.requests[1].headers["x-api-key"] == KEY_B


async def test_auth_failed_when_every_key_refused() -> None:
    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A), ("key-b", KEY_B)]})
    ex, _ = executor(kv, ScriptedProvider([status(403)]))
    result = await ex.execute(request())
    assert result is not None
    assert result.error is not None
    assert result.error.code == ErrorCode.PROVIDER_AUTH_FAILED
    assert result.attempts == 2
    assert not result.error.retryable


async def test_rate_limited_then_success_honours_retry_after() -> None:
    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A)]})
    prov = ScriptedProvider([status(429, **{"retry-after": "0.01"}), anthropic_ok])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request())
    assert result is not None
    assert result.status == "succeeded"
    assert result.attempts == 2


async def test_rate_limited_gives_up_after_the_wait_cap() -> None:
    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A)]})
    prov = ScriptedProvider([status(429, **{"retry-after": "0.02"})])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request())
    assert result is not None
    assert result.error is not None
    assert result.error.code == ErrorCode.PROVIDER_RATE_LIMITED
    assert result.error.retryable
    assert result.attempts == 3


async def test_unavailable_after_bounded_retries() -> None:
    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A)]})
    ex, _ = executor(kv, ScriptedProvider([status(503)]), runner_unavailable_retries=2)
    result = await ex.execute(request())
    assert result is not None
    assert result.error is not None
    assert result.error.code == ErrorCode.PROVIDER_UNAVAILABLE
    assert result.attempts == 3


async def test_timeouts_count_as_unavailable() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A)]})
    prov = ScriptedProvider([timeout, anthropic_ok])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request())
    assert result is not None
    assert result.status == "succeeded"
    assert result.attempts == 2


async def test_invalid_request_message_is_scrubbed() -> None:
    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A)]})
    prov = ScriptedProvider([status(400, f"bad thing near {KEY_A}")])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request())
    assert result is not None
    assert result.error is not None
    assert result.error.code == ErrorCode.INVALID_REQUEST
    assert "bad thing" in result.error.message
    assert KEY_A not in result.model_dump_json()


async def test_keyvault_down_gives_key_unavailable() -> None:
    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A)]}, fail_status=503)
    prov = ScriptedProvider([anthropic_ok])
    ex, _ = executor(kv, prov)
    result = await ex.execute(request())
    assert result is not None
    assert result.error is not None
    assert result.error.code == ErrorCode.KEY_UNAVAILABLE
    assert len(kv.calls) == 3
    assert prov.requests == []


async def test_proceed_is_asked_once_with_the_key_at_hand() -> None:
    """The consumer's dedupe claim gates the first provider call, and only the first."""
    kv = FakeKeyvault({"anthropic": [("key-a", KEY_A), ("key-b", KEY_B)]})
    asked: list[int] = []

    async def declined() -> bool:
        asked.append(len(kv.calls))
        return False

    prov = ScriptedProvider([anthropic_ok])
    ex, _ = executor(kv, prov)
    assert await ex.execute(request(), proceed=declined) is None
    assert asked == [1]  # after the key request, before any provider call
    assert prov.requests == []

    async def allowed() -> bool:
        asked.append(len(kv.calls))
        return True

    failing_over = ScriptedProvider([status(401), anthropic_ok])
    ex, _ = executor(kv, failing_over)
    result = await ex.execute(request(), proceed=allowed)
    assert result is not None
    assert result.key_id == "key-b"
    assert asked == [1, 2]  # not asked again for the second key
