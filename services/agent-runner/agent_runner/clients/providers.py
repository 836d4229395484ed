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

from agent_runner.domain import BadReplyError, ProviderError, ProviderReply, parse_retry_after
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


# Reading a 200 body: an absent (or null) container counts as empty, as before, but a field
# of the wrong JSON type is a `BadReplyError` naming the field and the type found, never the
# value. A bad body thus becomes a failed result (`provider_bad_response`) after one call.


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    """An optional JSON object: {} when absent or null."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadReplyError(f"{where} is {_kind(value)}, not an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    """An optional JSON list: [] when absent or null."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadReplyError(f"{where} is {_kind(value)}, not a list")
    return value


def _text(value: Any, where: str) -> str:
    """A text field that must be present as a string."""
    if not isinstance(value, str):
        raise BadReplyError(f"{where} is {_kind(value)}, not a string")
    return value


def _reason(value: Any, where: str) -> str | None:
    """A stop reason: a string or absent."""
    if value is not None and not isinstance(value, str):
        raise BadReplyError(f"{where} is {_kind(value)}, not a string")
    return value


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
        texts: list[str] = []
        for i, item in enumerate(_list(body.get("content"), "content")):
            block = _object(item, f"content[{i}]")
            if block.get("type") == "text":
                texts.append(_text(block.get("text"), f"content[{i}].text"))
        usage = _object(body.get("usage"), "usage")
        return ProviderReply(
            text="".join(texts),
            finish_reason=_reason(body.get("stop_reason"), "stop_reason"),
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
        choices = _list(body.get("choices"), "choices")
        choice = _object(choices[0], "choices[0]") if choices else {}
        message = _object(choice.get("message"), "choices[0].message")
        content = message.get("content")
        if content is None and (not message or isinstance(message.get("refusal"), str)):
            content = ""  # no message, or a refusal: no text, as before
        usage = _object(body.get("usage"), "usage")
        return ProviderReply(
            text=_text(content, "choices[0].message.content"),
            finish_reason=_reason(choice.get("finish_reason"), "choices[0].finish_reason"),
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
        candidates = _list(body.get("candidates"), "candidates")
        first = _object(candidates[0], "candidates[0]") if candidates else {}
        content = _object(first.get("content"), "candidates[0].content")
        texts: list[str] = []
        for i, item in enumerate(_list(content.get("parts"), "candidates[0].content.parts")):
            part = _object(item, f"candidates[0].content.parts[{i}]")
            if "text" in part:
                texts.append(_text(part["text"], f"candidates[0].content.parts[{i}].text"))
        usage = _object(body.get("usageMetadata"), "usageMetadata")
        return ProviderReply(
            text="".join(texts),
            finish_reason=_reason(first.get("finishReason"), "candidates[0].finishReason"),
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
    """One provider call; raises `ProviderError` for an error status or no answer, and
    `BadReplyError` for a 200 whose body does not have the provider's documented shape."""
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
        raise BadReplyError("the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise BadReplyError(f"the body is {_kind(parsed)}, not an object")
    return provider.reply(parsed)
