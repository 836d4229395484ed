"""Poison results (issue 12, fix 2): a 200 the runner cannot read, an output too large for the
result topic and an unexpected exception each become one result, never an endless retry; an
infrastructure error is retried a bounded number of times (the rules are pure, seeded here)."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from agent_runner import domain
from agent_runner.clients.providers import PROVIDERS
from agent_runner.domain import BadReplyError, InfraRetryPolicy, fit_result, infra_retry_wait_s
from agent_runner.service import ExecutionHandler
from shared.contracts import ErrorCode
from tests.agent_runner.fakes import (
    FakeKeyvault,
    InMemoryDedupeStore,
    ListPublisher,
    ScriptedProvider,
    anthropic_ok,
    executor,
    request,
)

KEY = "sk-ant-api03-poisonkeyPPPPPPPPPPPPPPPP1111"

ANTHROPIC_OK: dict[str, Any] = {
    "content": [{"type": "text", "text": "Hi."}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 1, "output_tokens": 1},
}
OPENAI_OK: dict[str, Any] = {
    "choices": [{"message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1},
}
GEMINI_OK: dict[str, Any] = {
    "candidates": [{"content": {"parts": [{"text": "Hi."}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1},
}


def _with(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(body)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


BAD_BODIES = [
    ("anthropic", _with(ANTHROPIC_OK, ("content", 0, "text"), None), "content[0].text is null"),
    ("anthropic", _with(ANTHROPIC_OK, ("content",), "Hi."), "content is a string"),
    ("anthropic", _with(ANTHROPIC_OK, ("content", 0), ["Hi."]), "content[0] is a list"),
    ("anthropic", _with(ANTHROPIC_OK, ("usage",), [1, 2]), "usage is a list"),
    ("anthropic", _with(ANTHROPIC_OK, ("stop_reason",), 3), "stop_reason is a number"),
    (
        "openai",
        _with(OPENAI_OK, ("choices", 0, "message", "content"), [{"type": "text"}]),
        "choices[0].message.content is a list",
    ),
    (
        "openai",
        _with(OPENAI_OK, ("choices", 0, "message", "content"), None),
        "choices[0].message.content is null",
    ),
    ("openai", _with(OPENAI_OK, ("usage",), "n/a"), "usage is a string"),
    ("openai", _with(OPENAI_OK, ("choices",), {"0": {}}), "choices is an object"),
    (
        "google",
        _with(GEMINI_OK, ("candidates", 0, "content"), [{"parts": []}]),
        "candidates[0].content is a list",
    ),
    (
        "google",
        _with(GEMINI_OK, ("candidates", 0, "content", "parts", 0, "text"), None),
        "candidates[0].content.parts[0].text is null",
    ),
    ("google", _with(GEMINI_OK, ("usageMetadata",), 7), "usageMetadata is a number"),
]


@pytest.mark.parametrize(("provider", "body", "what"), BAD_BODIES)
def test_a_body_of_the_wrong_shape_is_a_bad_reply(
    provider: str, body: dict[str, Any], what: str
) -> None:
    with pytest.raises(BadReplyError) as caught:
        PROVIDERS[provider].reply(body)  # type: ignore[index]
    assert caught.value.what.startswith(what)
    assert "Hi." not in caught.value.what  # names the field, never quotes the body


@pytest.mark.parametrize(
    ("provider", "body", "text"),
    [
        ("anthropic", ANTHROPIC_OK, "Hi."),
        ("anthropic", {}, ""),  # absent containers stay empty, as before
        ("openai", OPENAI_OK, "Hi."),
        ("openai", {"choices": []}, ""),
        (
            "openai",
            _with(OPENAI_OK, ("choices", 0, "message"), {"content": None, "refusal": "no"}),
            "",
        ),
        ("google", GEMINI_OK, "Hi."),
        ("google", {"candidates": [{"finishReason": "SAFETY"}]}, ""),
        ("google", {"promptFeedback": {"blockReason": "SAFETY"}}, ""),
    ],
)
def test_documented_shapes_still_read(provider: str, body: dict[str, Any], text: str) -> None:
    assert PROVIDERS[provider].reply(body).text == text  # type: ignore[index]


def _json(body: Any) -> Any:
    def respond(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return respond


@pytest.mark.parametrize(
    "respond",
    [
        _json(_with(ANTHROPIC_OK, ("content", 0, "text"), None)),
        _json(_with(ANTHROPIC_OK, ("usage",), "lots")),
        _json(["not", "an", "object"]),
        lambda _: httpx.Response(200, content=b"{truncated"),
    ],
)
async def test_a_bad_200_is_one_call_and_a_failed_result(respond: Any) -> None:
    prov = ScriptedProvider([respond, anthropic_ok])
    ex, metrics = executor(FakeKeyvault({"anthropic": [("key-a", KEY)]}), prov)
    store, published = InMemoryDedupeStore(), ListPublisher()
    handler = ExecutionHandler(executor=ex, store=store, publisher=published, metrics=metrics)
    await handler.handle(request())
    (result,) = published.published
    assert len(prov.requests) == 1
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.code == ErrorCode.PROVIDER_BAD_RESPONSE
    assert not result.error.retryable
    assert "anthropic" in result.error.message
    assert (result.attempts, result.key_id) == (1, "key-a")
    assert KEY not in result.model_dump_json()
    assert store.results[("org-a", "exec-1")] == result


async def test_an_unexpected_exception_is_an_internal_error_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any) -> float:
        raise ZeroDivisionError(f"price table broken near {KEY}")

    monkeypatch.setattr("agent_runner.service.cost_usd", broken)
    prov = ScriptedProvider([anthropic_ok])
    ex, metrics = executor(FakeKeyvault({"anthropic": [("key-a", KEY)]}), prov)
    published = ListPublisher()
    handler = ExecutionHandler(
        executor=ex, store=InMemoryDedupeStore(), publisher=published, metrics=metrics
    )
    await handler.handle(request())
    (result,) = published.published
    assert result.error is not None
    assert result.error.code == ErrorCode.INTERNAL_ERROR
    assert "ZeroDivisionError" in result.error.message
    assert KEY not in result.error.message
    assert "price table" not in result.error.message
    assert (result.provider, result.key_id, result.attempts) == ("anthropic", "key-a", 1)
    assert len(prov.requests) == 1


async def test_a_store_error_in_the_claim_still_propagates() -> None:
    class BrokenClaims(InMemoryDedupeStore):
        async def claim(self, *, org_id: str, execution_id: str) -> Any:
            raise ConnectionError("store down")

    prov = ScriptedProvider([anthropic_ok])
    ex, metrics = executor(FakeKeyvault({"anthropic": [("key-a", KEY)]}), prov)
    published = ListPublisher()
    handler = ExecutionHandler(
        executor=ex, store=BrokenClaims(), publisher=published, metrics=metrics
    )
    with pytest.raises(ConnectionError):
        await handler.handle(request())
    assert published.published == []
    assert prov.requests == []


async def test_a_huge_output_is_truncated_to_the_limit() -> None:
    text = 'ab"\\é€\n' * 40_000  # escapes and multi-byte characters: ~480 KB of JSON

    def huge(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_with(ANTHROPIC_OK, ("content", 0, "text"), text))

    prov = ScriptedProvider([huge])
    ex, _ = executor(
        FakeKeyvault({"anthropic": [("key-a", KEY)]}), prov, runner_max_result_bytes=100_000
    )
    result = await ex.execute(request())
    assert result is not None
    assert result.output is not None
    assert result.status == "succeeded"
    assert result.output.finish_reason == domain.TRUNCATED
    assert result.output.text.endswith(domain.truncation_marker(100_000))
    size = len(result.model_dump_json().encode())
    assert 99_000 < size <= 100_000
    kept = result.output.text.removesuffix(domain.truncation_marker(100_000))
    assert text.startswith(kept)
    assert len(prov.requests) == 1


def test_fit_result_leaves_a_result_that_fits_alone() -> None:
    small = domain.failed(
        request(),
        code=ErrorCode.MODEL_UNKNOWN,
        message="m",
        provider=None,
        key_id=None,
        attempts=0,
        duration_ms=0,
    )
    assert fit_result(small, max_bytes=10) is small
    ok = domain.succeeded(
        request(),
        provider="anthropic",
        key_id="k",
        reply=domain.ProviderReply("x" * 500, "end_turn", 1, 1),
        cost_usd=None,
        attempts=1,
        duration_ms=1,
    )
    assert fit_result(ok, max_bytes=10_000) is ok
    cut = fit_result(ok, max_bytes=len(ok.model_dump_json()) - 1)
    assert cut.output is not None
    assert cut.output.finish_reason == "truncated"
    marker = domain.truncation_marker(len(ok.model_dump_json()) - 1)
    assert cut.output.text == "x" * (len(cut.output.text) - len(marker)) + marker
    assert len(cut.model_dump_json()) <= len(ok.model_dump_json()) - 1
    assert len(cut.model_dump_json()) > len(ok.model_dump_json()) - 10
    # Not even the marker fits: the result stays as it is (publishing it then fails loudly).
    assert fit_result(ok, max_bytes=50) is ok


POLICY = InfraRetryPolicy(retries=4, backoff_base_s=0.5, backoff_max_s=3.0)


@pytest.mark.parametrize("seed", range(20))
def test_infra_retries_back_off_capped_then_give_up(seed: int) -> None:
    rng = random.Random(seed)
    waits = [infra_retry_wait_s(n, policy=POLICY, rng=rng) for n in range(1, 7)]
    ceilings = [0.5, 1.0, 2.0, 3.0]
    for wait, ceiling in zip(waits[:4], ceilings, strict=True):
        assert wait is not None
        assert ceiling / 2 <= wait <= ceiling
    assert waits[4:] == [None, None]  # retries used up: dead-letter, the offset moves on


def test_no_infra_retries_means_dead_letter_at_once() -> None:
    policy = InfraRetryPolicy(retries=0, backoff_base_s=1, backoff_max_s=1)
    assert infra_retry_wait_s(1, policy=policy) is None
    reason = domain.infra_dead_letter_reason(1, "ServerSelectionTimeoutError: no server")
    assert reason.startswith("infrastructure error, gave up after 1 tries")


def test_infrastructure_retries_never_dead_letter_before_the_key_wait() -> None:
    policy = InfraRetryPolicy(retries=1, backoff_base_s=0.5, backoff_max_s=3.0, at_least_s=10.0)
    assert infra_retry_wait_s(2, policy=policy, waited_s=1.0) == 3.0  # retries used, 9 s left
    assert infra_retry_wait_s(5, policy=policy, waited_s=8.5) == 1.5  # never past the deadline
    assert infra_retry_wait_s(5, policy=policy, waited_s=10.0) is None
    assert infra_retry_wait_s(2, policy=InfraRetryPolicy(1, 0.5, 3.0), waited_s=0) is None
