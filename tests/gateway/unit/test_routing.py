"""PATCH /workspaces/{id} with routing and max_tokens_cap: checked at the door, passed on."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.gateway.support import FakeUpstreams, assert_problem, auth

WS_PATH = "/internal/v1/orgs/org-a/workspaces/ws-1"
WS = {
    "id": "ws-1",
    "org_id": "org-a",
    "name": "S",
    "ai_provider_ids": ["k1", "k2"],
    "created_at": "2026-01-05T10:00:00Z",
    "routing": {"anthropic": {"strategy": "round_robin", "weights": {"k1": 3}}},
    "max_tokens_cap": 512,
}


async def test_routing_and_cap_go_to_workspace_and_come_back(
    client: httpx.AsyncClient, upstreams: FakeUpstreams
) -> None:
    sent: list[dict[str, Any]] = []

    def patch(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=WS)

    upstreams.on("workspace", "PATCH", WS_PATH, patch)
    body = {
        "routing": {"anthropic": {"strategy": "round_robin", "weights": {"k1": 3}}},
        "max_tokens_cap": 512,
    }
    response = await client.patch("/api/v1/workspaces/ws-1", json=body, headers=auth("org-a"))
    assert response.status_code == 200, response.text
    assert response.json()["routing"] == WS["routing"]
    assert response.json()["max_tokens_cap"] == 512
    assert sent[0]["routing"] == body["routing"]
    assert sent[0]["max_tokens_cap"] == 512
    await client.patch(
        "/api/v1/workspaces/ws-1", json={"max_tokens_cap": None}, headers=auth("org-a")
    )
    assert "max_tokens_cap" in sent[1]
    assert sent[1]["max_tokens_cap"] is None  # null clears the cap; absent leaves it


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"routing": {"anthropic": {"strategy": "fastest"}}}, "strategy"),
        ({"routing": {"mistral": {"strategy": "ordered"}}}, "routing"),
        ({"routing": {"anthropic": {"strategy": "round_robin", "weights": {"k1": 0}}}}, "k1"),
        ({"routing": {"anthropic": {"strategy": "round_robin", "weights": {"k1": 101}}}}, "k1"),
        ({"max_tokens_cap": 0}, "max_tokens_cap"),
        ({"max_tokens_cap": 200_001}, "max_tokens_cap"),
    ],
)
async def test_bad_routing_or_cap_is_422_naming_the_field(
    client: httpx.AsyncClient, upstreams: FakeUpstreams, body: dict[str, Any], where: str
) -> None:
    upstreams.on("workspace", "PATCH", WS_PATH, httpx.Response(200, json=WS))
    got = assert_problem(
        await client.patch("/api/v1/workspaces/ws-1", json=body, headers=auth("org-a")),
        422,
        "validation_error",
    )
    assert where in got["detail"]
