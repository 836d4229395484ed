"""The three providers' wire formats over one pooled httpx transport (`shared.http`).

Shapes follow the public API references: Anthropic Messages (`POST /v1/messages`),
OpenAI Chat Completions (`POST /v1/chat/completions`), Gemini `generateContent`
(`POST /v1beta/models/{model}:generateContent`). The key always travels in a header, never
in the URL (`shared.providers.auth_headers`); base URLs come from settings only.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import httpx

from agent_runner.domain import ProviderError, ProviderReply, parse_retry_after
from shared.contracts import ExecutionInput, ProviderId
from shared.crypto import SecretValue
from shared.http import DirectClient
from shared.logging import redact
from shared.providers import auth_headers


class Provider(Protocol):
    """One provider's request and response format."""

    id: ProviderId

    def request(
        self, base: str, model: str, data: ExecutionInput, key: SecretValue
    ) -> tuple[str, dict[str, str], dict[str, Any]]: ...

    def reply(self, body: dict[str, Any]) -> ProviderReply: ...


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


class Anthropic:
    id: ProviderId = "anthropic"

    def request(
        self, base: str, model: str, data: ExecutionInput, key: SecretValue
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": data.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in data.messages],
        }
        if data.system:
            body["system"] = data.system
        if data.temperature is not None:
            body["temperature"] = min(data.temperature, 1.0)  # Anthropic accepts 0..1
        headers = auth_headers(self.id, key)
        return f"{base}/v1/messages", headers, body

    def reply(self, body: dict[str, Any]) -> ProviderReply:
        blocks = body.get("content") or []
        text = "".join(
            b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"
        )
        usage = body.get("usage") or {}
        return ProviderReply(
            text=text,
            finish_reason=body.get("stop_reason"),
            input_tokens=_int(usage.get("input_tokens")),
            output_tokens=_int(usage.get("output_tokens")),
        )


class OpenAI:
    id: ProviderId = "openai"

    def request(
        self, base: str, model: str, data: ExecutionInput, key: SecretValue
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        messages: list[dict[str, str]] = []
        if data.system:
            messages.append({"role": "system", "content": data.system})
        messages.extend({"role": m.role, "content": m.content} for m in data.messages)
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_completion_tokens": data.max_tokens,
        }
        if data.temperature is not None:
            body["temperature"] = data.temperature
        headers = auth_headers(self.id, key)
        return f"{base}/v1/chat/completions", headers, body

    def reply(self, body: dict[str, Any]) -> ProviderReply:
        choices = body.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        usage = body.get("usage") or {}
        return ProviderReply(
            text=message.get("content") or "",
            finish_reason=choice.get("finish_reason"),
            input_tokens=_int(usage.get("prompt_tokens")),
            output_tokens=_int(usage.get("completion_tokens")),
        )


class Gemini:
    id: ProviderId = "google"

    def request(
        self, base: str, model: str, data: ExecutionInput, key: SecretValue
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        body: dict[str, Any] = {
            "contents": [
                {
                    "role": "model" if m.role == "assistant" else "user",
                    "parts": [{"text": m.content}],
                }
                for m in data.messages
            ],
            "generationConfig": {"maxOutputTokens": data.max_tokens},
        }
        if data.temperature is not None:
            body["generationConfig"]["temperature"] = data.temperature
        if data.system:
            body["systemInstruction"] = {"parts": [{"text": data.system}]}
        headers = auth_headers(self.id, key)
        return f"{base}/v1beta/models/{model}:generateContent", headers, body

    def reply(self, body: dict[str, Any]) -> ProviderReply:
        candidates = body.get("candidates") or [{}]
        first = candidates[0] if isinstance(candidates[0], dict) else {}
        parts = (first.get("content") or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        usage = body.get("usageMetadata") or {}
        return ProviderReply(
            text=text,
            finish_reason=first.get("finishReason"),
            input_tokens=_int(usage.get("promptTokenCount")),
            output_tokens=_int(usage.get("candidatesTokenCount")),
        )


PROVIDERS: dict[ProviderId, Provider] = {
    "anthropic": Anthropic(),
    "openai": OpenAI(),
    "google": Gemini(),
}


def _error_message(response: httpx.Response) -> str:
    """The provider's own error message (all three nest it under `error.message`)."""
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, str) and message:
            return redact(message[:500])
    except ValueError:
        pass
    return f"HTTP {response.status_code}"


async def call(
    client: DirectClient,
    provider: Provider,
    *,
    base: str,
    model: str,
    data: ExecutionInput,
    key: SecretValue,
) -> ProviderReply:
    """One provider call; raises `ProviderError` for an error status or no answer."""
    url, headers, body = provider.request(base, model, data, key)
    headers["content-type"] = "application/json"
    try:
        response = await client.post(url, headers=headers, content=json.dumps(body).encode())
    except httpx.TimeoutException:
        raise ProviderError(None, "timed out") from None
    except httpx.HTTPError as exc:  # connection refused/reset, protocol errors
        raise ProviderError(None, f"connection failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ProviderError(
            response.status_code,
            _error_message(response),
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        )
    try:
        parsed = response.json()
    except ValueError:
        raise ProviderError(502, "the provider answered with invalid JSON") from None
    if not isinstance(parsed, dict):
        raise ProviderError(502, "the provider answered with an unexpected body")
    return provider.reply(parsed)
