"""The simulator as a minimal ASGI app (no framework: it is the benchmark's peer, keep it fast).

Routes: Anthropic `POST /v1/messages` (`x-api-key` or `Authorization: Bearer`, plus
`anthropic-version`), OpenAI `POST /v1/chat/completions` (Bearer), Gemini
`POST /v1beta|v1/models/{model}:generateContent` (`x-goog-api-key`), the model lists
`GET /v1/models` (Anthropic or OpenAI, told apart by their headers) and `GET /v1beta|v1/models`
(Gemini), `GET|DELETE /_sim/requests`, `GET|DELETE /_sim/counts` (provider calls counted per
`[sim-count:<tag>]` marker found in the request body: the chaos suite tags each prompt with its
execution id to count duplicate provider calls) and `GET /_sim/calls` (provider calls answered:
the total and per sha256 of the prompt; cleared with the requests). Only a key's sha256 and
last 4 are recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from deploy.local.simulator.behaviour import (
    Behaviour,
    behaviour_for,
    call_tag,
    count_tokens,
    fingerprint,
    huge_text,
    reply_text,
)
from shared.web import read_body, serve_lifespan

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODELS = {
    "anthropic": ["claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"],
    "openai": ["gpt-5.4", "gpt-5", "gpt-5-mini", "o4-mini"],
    "google": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash"],
}


class HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]):
        self.status = status
        self.body = body
        self.headers = headers


def _error_body(provider: str, status: int, message: str) -> dict[str, Any]:
    if provider == "anthropic":
        kinds = {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            429: "rate_limit_error",
            500: "api_error",
        }
        return {
            "type": "error",
            "error": {"type": kinds.get(status, "api_error"), "message": message},
        }
    if provider == "openai":
        kinds = {
            400: "invalid_request_error",
            401: "invalid_request_error",
            404: "invalid_request_error",
            429: "rate_limit_exceeded",
            500: "server_error",
        }
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {
            "error": {
                "message": message,
                "type": kinds.get(status, "server_error"),
                "param": None,
                "code": code,
            }
        }
    statuses = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
    }
    return {
        "error": {"code": status, "message": message, "status": statuses.get(status, "INTERNAL")}
    }


_MESSAGES = {
    401: "invalid api key (simulated)",
    429: "rate limited (simulated)",
    500: "internal error (simulated)",
}


class Simulator:
    """The ASGI app; `records` holds what was received (never a raw key)."""

    def __init__(
        self, *, latency_ms: int = 0, jitter_ms: int = 0, max_records: int = 200_000
    ) -> None:
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self.records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._seen: set[str] = set()
        self.count_total = 0
        self.count_by_tag: dict[str, int] = {}
        self.calls: Counter[str] = Counter()  # per prompt sha256, never capped
        self.calls_total = 0

    def delay_ms(self, extra_ms: int) -> int:
        """The latency of one call: the fixed latency, a uniform 0..jitter_ms, the key's extra."""
        jitter = random.randint(0, self.jitter_ms) if self.jitter_ms > 0 else 0  # noqa: S311
        return self.latency_ms + jitter + extra_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            status, payload, extra = await self._route(
                scope["method"], scope["path"], headers, body
            )
        except HttpError as err:
            status, payload, extra = err.status, err.body, err.headers
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    # ------------------------------------------------------------------ routing

    async def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if path == "/_sim/requests":
            if method == "DELETE":
                self.records.clear()
                self._seen.clear()
                self.calls.clear()
                self.calls_total = 0
                return 200, {"cleared": True}, []
            return 200, {"items": list(self.records)}, []
        if path == "/_sim/counts":
            if method == "DELETE":
                self.count_total = 0
                self.count_by_tag.clear()
                return 200, {"cleared": True}, []
            tagged = sum(self.count_by_tag.values())
            return (
                200,
                {"calls": self.count_total, "tagged": tagged, "by_tag": self.count_by_tag},
                [],
            )
        if path == "/_sim/calls":
            return 200, {"total": self.calls_total, "by_prompt": dict(self.calls)}, []
        if path == "/_sim/health":
            return 200, {"status": "ok"}, []
        if method == "POST" and path == "/v1/messages":
            return await self._call("anthropic", path, headers, body)
        if method == "POST" and path == "/v1/chat/completions":
            return await self._call("openai", path, headers, body)
        if (
            method == "POST"
            and path.endswith(":generateContent")
            and (path.startswith("/v1beta/models/") or path.startswith("/v1/models/"))
        ):
            return await self._call("google", path, headers, body)
        if method == "GET" and path in ("/v1/models", "/v1beta/models"):
            if "x-goog-api-key" in headers or path == "/v1beta/models":
                provider = "google"
            elif "anthropic-version" in headers or "x-api-key" in headers:
                provider = "anthropic"
            else:
                provider = "openai"
            return await self._call(provider, path, headers, body, listing=True)
        return 404, {"error": {"message": f"no route {method} {path}"}}, []

    def _key(self, provider: str, headers: dict[str, str]) -> str | None:
        if provider == "google":
            return headers.get("x-goog-api-key")
        if provider == "anthropic" and headers.get("x-api-key"):
            return headers["x-api-key"]
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    async def _call(
        self,
        provider: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        *,
        listing: bool = False,
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        received = time.time()
        key = self._key(provider, headers)
        if not key:
            raise HttpError(401, _error_body(provider, 401, "missing api key"), [])
        digest, last4 = fingerprint(key)
        call_id = hashlib.sha256(key.encode() + b"\0" + path.encode() + b"\0" + body).hexdigest()
        first = call_id not in self._seen
        self._seen.add(call_id)
        behaviour = behaviour_for(key, first_call=first)
        if not listing:
            self.count_total += 1
            tag = call_tag(body)
            if tag is not None:
                self.count_by_tag[tag] = self.count_by_tag.get(tag, 0) + 1
        record: dict[str, Any] = {
            "provider": provider,
            "method": "GET" if listing else "POST",
            "path": path,
            "key_sha256": digest,
            "key_last4": last4,
            "received_at": received,
        }
        self.records.append(record)
        delay = self.delay_ms(behaviour.extra_latency_ms)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        status, payload, extra = self._answer(provider, path, headers, body, behaviour, listing)
        if not listing:
            self.calls_total += 1
        if "_prompt" in payload:  # sha256 of the last prompt text, so callers can correlate
            record["prompt_sha256"] = hashlib.sha256(payload.pop("_prompt").encode()).hexdigest()
            self.calls[record["prompt_sha256"]] += 1
        record["status"] = status
        record["responded_at"] = time.time()
        if isinstance(payload, dict) and status == 200 and not listing:
            record["model"] = payload.get("model") or payload.get("modelVersion")
        return status, payload, extra

    def _answer(
        self,
        provider: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        behaviour: Behaviour,
        listing: bool,
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if behaviour.status != 200:
            extra = []
            if behaviour.retry_after is not None:
                extra.append((b"retry-after", behaviour.retry_after.encode()))
            message = _MESSAGES[behaviour.status]
            return behaviour.status, _error_body(provider, behaviour.status, message), extra
        if listing:
            return 200, _model_list(provider), []
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return 400, _error_body(provider, 400, "request body must be a JSON object"), []
        if provider == "anthropic":
            answer = self._anthropic(headers, request)
        elif provider == "openai":
            answer = self._openai(request)
        else:
            model = path.split("/models/", 1)[1].rsplit(":", 1)[0]
            answer = self._gemini(model, request)
        if answer[0] == 200 and behaviour.reply_kb:
            _replace_text(provider, answer[1], huge_text(behaviour.reply_kb))
        if answer[0] == 200 and behaviour.bad_body:
            _break_body(provider, answer[1], behaviour.bad_body)
        return answer

    # ------------------------------------------------------------------ providers

    def _anthropic(
        self, headers: dict[str, str], req: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if "anthropic-version" not in headers:
            return 400, _error_body("anthropic", 400, "anthropic-version header is required"), []
        messages = req.get("messages")
        if headers["anthropic-version"] != "2023-06-01":
            # Newer API versions removed the sampling parameters (400 even at defaults).
            for name in ("temperature", "top_p", "top_k"):
                if name in req:
                    message = f"{name}: Extra inputs are not permitted"
                    return 400, _error_body("anthropic", 400, message), []
        if not isinstance(req.get("model"), str) or not isinstance(req.get("max_tokens"), int):
            return 400, _error_body("anthropic", 400, "model and max_tokens are required"), []
        if not isinstance(messages, list) or not messages:
            return (
                400,
                _error_body("anthropic", 400, "messages: at least one message is required"),
                [],
            )
        prompt = _text_of(messages[-1].get("content") if isinstance(messages[-1], dict) else "")
        system = req.get("system")
        text = reply_text(req["model"], prompt)
        in_tokens = sum(
            count_tokens(_text_of(m.get("content"))) for m in messages if isinstance(m, dict)
        )
        in_tokens += count_tokens(_text_of(system)) if system else 0
        return (
            200,
            {
                "id": f"msg_sim{uuid.uuid4().hex[:20]}",
                "type": "message",
                "role": "assistant",
                "model": req["model"],
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": in_tokens, "output_tokens": count_tokens(text)},
                "_prompt": prompt,
            },
            [(b"request-id", f"req_sim{uuid.uuid4().hex[:16]}".encode())],
        )

    def _openai(self, req: dict[str, Any]) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        messages = req.get("messages")
        if not isinstance(req.get("model"), str):
            return 400, _error_body("openai", 400, "you must provide a model parameter"), []
        if not isinstance(messages, list) or not messages:
            return 400, _error_body("openai", 400, "messages: at least one message is required"), []
        if "max_tokens" in req and str(req["model"]).startswith(("gpt-5", "o")):
            return (
                400,
                _error_body(
                    "openai",
                    400,
                    "Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead.",
                ),
                [],
            )
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        text = reply_text(req["model"], _text_of(last.get("content")))
        in_tokens = sum(
            count_tokens(_text_of(m.get("content"))) for m in messages if isinstance(m, dict)
        )
        return (
            200,
            {
                "id": f"chatcmpl-sim{uuid.uuid4().hex[:20]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": req["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": in_tokens,
                    "completion_tokens": count_tokens(text),
                    "total_tokens": in_tokens + count_tokens(text),
                },
                "system_fingerprint": "fp_sim",
                "_prompt": _text_of(last.get("content")),
            },
            [],
        )

    def _gemini(
        self, model: str, req: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        contents = req.get("contents")
        if not isinstance(contents, list) or not contents:
            return 400, _error_body("google", 400, "contents is not specified"), []
        for item in contents:
            if not isinstance(item, dict) or item.get("role", "user") not in ("user", "model"):
                return 400, _error_body("google", 400, "contents.role must be user or model"), []
        last = contents[-1]
        prompt = " ".join(
            _text_of(p.get("text")) for p in last.get("parts") or [] if isinstance(p, dict)
        )
        text = reply_text(model, prompt)
        in_tokens = sum(
            count_tokens(_text_of(p.get("text")))
            for c in contents
            for p in (c.get("parts") or [])
            if isinstance(p, dict)
        )
        system = req.get("systemInstruction") or {}
        if isinstance(system, dict):
            in_tokens += sum(
                count_tokens(_text_of(p.get("text")))
                for p in system.get("parts") or []
                if isinstance(p, dict)
            )
        out_tokens = count_tokens(text)
        return (
            200,
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": text}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": in_tokens,
                    "candidatesTokenCount": out_tokens,
                    "totalTokenCount": in_tokens + out_tokens,
                },
                "modelVersion": model,
                "responseId": uuid.uuid4().hex[:22],
                "_prompt": prompt,
            },
            [],
        )


def _replace_text(provider: str, payload: dict[str, Any], text: str) -> None:
    """Put `text` where the provider's 200 carries the reply text (and count its tokens)."""
    tokens = count_tokens(text)
    if provider == "anthropic":
        payload["content"] = [{"type": "text", "text": text}]
        payload["usage"]["output_tokens"] = tokens
    elif provider == "openai":
        payload["choices"][0]["message"]["content"] = text
        payload["usage"]["completion_tokens"] = tokens
    else:
        payload["candidates"][0]["content"]["parts"] = [{"text": text}]
        payload["usageMetadata"]["candidatesTokenCount"] = tokens


def _break_body(provider: str, payload: dict[str, Any], kind: str) -> None:
    """Give a 200 the wrong shape (the `badbody-…` markers)."""
    usage_field = "usageMetadata" if provider == "google" else "usage"
    if kind == "usage":
        payload[usage_field] = [1, 2]
        return
    if provider == "anthropic":
        block = payload["content"][0]
        if kind == "nulltext":
            block["text"] = None
        else:
            payload["content"] = [[block]]  # a list where a content block (object) belongs
    elif provider == "openai":
        message = payload["choices"][0]["message"]
        if kind == "nulltext":
            message["content"] = None
        else:
            message["content"] = [{"type": "text", "text": message["content"]}]
    else:
        candidate = payload["candidates"][0]
        if kind == "nulltext":
            candidate["content"]["parts"] = [{"text": None}]
        else:
            candidate["content"] = [candidate["content"]]


def _text_of(content: Any) -> str:
    """Text of a message content: a string, or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _model_list(provider: str) -> dict[str, Any]:
    if provider == "anthropic":
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in MODELS["anthropic"]
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"],
            "last_id": data[-1]["id"],
        }
    if provider == "openai":
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 1735689600, "owned_by": "openai"}
                for m in MODELS["openai"]
            ],
        }
    return {
        "models": [
            {
                "name": f"models/{m}",
                "displayName": m,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for m in MODELS["google"]
        ]
    }


def create_app(*, latency_ms: int = 0, jitter_ms: int = 0) -> Simulator:
    """A simulator app; `latency_ms` (SIM_LATENCY_MS) plus a random 0..`jitter_ms`
    (SIM_LATENCY_JITTER_MS) is added to every provider call."""
    return Simulator(latency_ms=latency_ms, jitter_ms=jitter_ms)
