"""The simulator's per-tag call counter (what the chaos suite counts duplicates with) and its
random latency."""

from __future__ import annotations

import json

import httpx

from deploy.local.simulator import create_app
from deploy.local.simulator.behaviour import call_tag


def _anthropic(text: str) -> dict[str, object]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": text}],
    }


def test_call_tag_is_found_in_the_raw_request_body() -> None:
    body = json.dumps(_anthropic("Hello [sim-count:exec-42.a_b]")).encode()
    assert call_tag(body) == "exec-42.a_b"
    assert call_tag(b'{"messages": [{"content": "no tag here"}]}') is None


async def test_counts_calls_per_tag_whatever_the_answer() -> None:
    sim = create_app()
    transport = httpx.ASGITransport(app=sim)
    headers = {"x-api-key": "sk-ant-api03-counting-0000", "anthropic-version": "2023-06-01"}
    bad = {"x-api-key": "sk-ant-api03-fail401-counting", "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
        for text, hdrs in (
            ("one [sim-count:exec-1]", headers),
            ("one again [sim-count:exec-1]", headers),
            ("two [sim-count:exec-2]", bad),
            ("untagged", headers),
        ):
            response = await http.post("/v1/messages", json=_anthropic(text), headers=hdrs)
            assert response.status_code in (200, 401)
        counts = (await http.get("/_sim/counts")).json()
        assert counts == {"calls": 4, "tagged": 3, "by_tag": {"exec-1": 2, "exec-2": 1}}
        assert (await http.delete("/_sim/counts")).status_code == 200
        assert (await http.get("/_sim/counts")).json() == {"calls": 0, "tagged": 0, "by_tag": {}}


async def test_latency_jitter_adds_a_random_delay_within_bounds() -> None:
    sim = create_app(latency_ms=0, jitter_ms=40)
    delays = [sim.delay_ms(0) for _ in range(200)]
    assert min(delays) >= 0
    assert max(delays) <= 40
    assert len(set(delays)) > 10  # random, not constant
    assert create_app(latency_ms=7).delay_ms(3) == 10
