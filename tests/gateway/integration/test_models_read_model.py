"""`GET /workspaces/{id}/models` from the gateway's read model of the compacted state topics.

Read-your-writes on every replica, revocation at once, the same 404s as before, and fail
closed (503) when the read model cannot prove it is current. Real Kafka, FerretDB and the
real keyvault and workspace apps.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from tests.gateway.support import Stack, assert_problem, auth, gateway_settings, problem_content
from tests.support.e2e import wait_for
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.integration


def api(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=30)


async def add_key(c: httpx.AsyncClient, org: str, provider: str) -> str:
    secret = ("sk-ant-" if provider == "anthropic" else "sk-proj-") + secrets.token_hex(16)
    got = await c.post(
        "/ai-providers",
        json={
            "provider": provider,
            "name": f"{provider}-{secrets.token_hex(3)}",
            "api_key": secret,
        },
        headers=auth(org),
    )
    assert got.status_code == 201, got.text
    key_id: str = got.json()["id"]
    return key_id


async def add_workspace(c: httpx.AsyncClient, org: str) -> str:
    got = await c.post("/workspaces", json={"name": "W"}, headers=auth(org))
    assert got.status_code == 201, got.text
    ws_id: str = got.json()["id"]
    return ws_id


async def assign(c: httpx.AsyncClient, org: str, ws: str, key_ids: list[str]) -> None:
    got = await c.patch(f"/workspaces/{ws}", json={"ai_provider_ids": key_ids}, headers=auth(org))
    assert got.status_code == 200, got.text


async def providers(c: httpx.AsyncClient, org: str, ws: str) -> list[str]:
    got = await c.get(f"/workspaces/{ws}/models", headers=auth(org, "MEMBER"))
    assert got.status_code == 200, got.text
    return sorted({m["provider"] for m in got.json()["items"]})


def read_models_of(app: Any) -> Any:
    return app.state.read_models


async def test_a_write_is_seen_at_once_on_every_replica(live: Stack, org: str) -> None:
    async with api(live.gateways[0]) as first, api(live.gateways[1]) as second:
        anthropic, openai = (
            await add_key(first, org, "anthropic"),
            await add_key(first, org, "openai"),
        )
        ws = await add_workspace(first, org)
        assert await providers(second, org, ws) == []
        for _ in range(5):
            await assign(first, org, ws, [anthropic])
            assert await providers(second, org, ws) == ["anthropic"]
            assert await providers(first, org, ws) == ["anthropic"]
            await assign(first, org, ws, [openai, anthropic])
            assert await providers(second, org, ws) == ["anthropic", "openai"]
            # Unassigning is a revocation: gone at once, on the other replica too.
            await assign(first, org, ws, [])
            assert await providers(second, org, ws) == []


async def test_a_deleted_key_takes_its_models_away_at_once(live: Stack, org: str) -> None:
    async with api(live.gateways[0]) as first, api(live.gateways[1]) as second:
        anthropic, openai = (
            await add_key(first, org, "anthropic"),
            await add_key(first, org, "openai"),
        )
        ws = await add_workspace(first, org)
        await assign(first, org, ws, [anthropic, openai])
        assert await providers(second, org, ws) == ["anthropic", "openai"]
        gone = await first.delete(f"/ai-providers/{openai}", headers=auth(org))
        assert gone.status_code == 204, gone.text
        assert await providers(second, org, ws) == ["anthropic"]
        # Catalog order and content exactly as workspace's own answer.
        ours = await second.get(f"/workspaces/{ws}/models", headers=auth(org, "MEMBER"))
        credential = live.settings.service_token_gateway.get_secret_value()
        async with httpx.AsyncClient(base_url=live.workspace) as direct:
            theirs = await direct.get(
                f"/internal/v1/orgs/{org}/workspaces/{ws}/models",
                headers={"Authorization": f"Bearer {credential}"},
            )
        assert theirs.status_code == 200, theirs.text
        assert ours.json() == theirs.json()


async def test_deleted_and_foreign_workspaces_answer_the_same_404_as_missing(
    live: Stack, unique: str
) -> None:
    org_a, org_b = f"org-a{unique}", f"org-b{unique}"
    async with api(live.gateways[0]) as first, api(live.gateways[1]) as second:
        key = await add_key(first, org_a, "anthropic")
        ws = await add_workspace(first, org_a)
        await assign(first, org_a, ws, [key])
        assert await providers(second, org_a, ws) == ["anthropic"]
        missing = await second.get("/workspaces/ws-nope/models", headers=auth(org_a, "MEMBER"))
        assert_problem(missing, 404, "not_found")
        foreign = await second.get(f"/workspaces/{ws}/models", headers=auth(org_b, "MEMBER"))
        assert_problem(foreign, 404, "not_found")
        assert problem_content(foreign) == problem_content(missing)
        gone = await first.delete(f"/workspaces/{ws}", headers=auth(org_a))
        assert gone.status_code == 204, gone.text
        deleted = await second.get(f"/workspaces/{ws}/models", headers=auth(org_a, "MEMBER"))
        assert_problem(deleted, 404, "not_found")
        assert problem_content(deleted) == problem_content(missing)


async def test_models_are_answered_without_asking_workspace(live: Stack, org: str) -> None:
    """The read model answers: a replica whose workspace is unreachable still lists them."""
    settings = gateway_settings(
        kafka_bootstrap_servers=live.bootstrap,
        kafka_topic_suffix=live.suffix,
        keyvault_url=live.keyvault,
        workspace_url=f"http://127.0.0.1:{free_port()}",
    )
    async with api(live.gateways[0]) as first:
        key = await add_key(first, org, "openai")
        ws = await add_workspace(first, org)
        async with serve(create_app(settings)) as url, api(url) as blind:
            await assign(first, org, ws, [key])
            assert await providers(blind, org, ws) == ["openai"]
            await assign(first, org, ws, [])
            assert await providers(blind, org, ws) == []


async def test_a_stalled_reader_fails_closed_and_the_gateway_stays_ready(
    live: Stack, org: str
) -> None:
    settings = gateway_settings(
        kafka_bootstrap_servers=live.bootstrap,
        kafka_topic_suffix=live.suffix,
        keyvault_url=live.keyvault,
        workspace_url=live.workspace,
        gateway_fence_timeout_s=0.3,
    )
    app = create_app(settings)
    stall = asyncio.Event()

    async def stalled(_record: Any) -> None:
        await stall.wait()

    async with api(live.gateways[0]) as first, serve(app) as url, api(url) as stuck:
        key = await add_key(first, org, "anthropic")
        ws = await add_workspace(first, org)
        await assign(first, org, ws, [key])

        # Its fence is short (0.3 s): on a loaded machine a first answer may be a 503.
        async def answered() -> httpx.Response | None:
            got = await stuck.get(f"/workspaces/{ws}/models", headers=auth(org, "MEMBER"))
            if got.status_code == 200:
                return got
            assert_problem(got, 503, "dependency_unavailable")
            return None

        got = await wait_for(answered)
        assert sorted({m["provider"] for m in got.json()["items"]}) == ["anthropic"]
        for reader in read_models_of(app).readers:
            reader.handler = stalled
        await assign(first, org, ws, [])  # a revocation this replica cannot apply
        got = await stuck.get(f"/workspaces/{ws}/models", headers=auth(org, "MEMBER"))
        assert_problem(got, 503, "dependency_unavailable")  # never the stale ["anthropic"]
        async with httpx.AsyncClient(base_url=url) as root:
            assert (await root.get("/readyz")).status_code == 200
        stall.set()


async def test_kafka_down_the_route_answers_503_and_the_gateway_stays_ready(
    live: Stack, org: str
) -> None:
    settings = gateway_settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        kafka_topic_suffix=live.suffix,
        keyvault_url=live.keyvault,
        workspace_url=live.workspace,
        gateway_kafka_timeout_s=0.5,
    )
    async with api(live.gateways[0]) as first:
        ws = await add_workspace(first, org)
        async with serve(create_app(settings)) as url, api(url) as cut_off:
            got = await cut_off.get(f"/workspaces/{ws}/models", headers=auth(org, "MEMBER"))
            assert_problem(got, 503, "dependency_unavailable")
            assert (await cut_off.get("/readyz")).status_code == 200


async def test_a_key_change_is_listed_at_once_on_every_replica(live: Stack, org: str) -> None:
    """`GET /ai-providers` reuses an org's list only while no change to its keys was seen:
    a key added, renamed or deleted through one gateway is listed so by the other at once."""

    async def names(c: httpx.AsyncClient) -> dict[str, str]:
        got = await c.get("/ai-providers", headers=auth(org))
        assert got.status_code == 200, got.text
        return {k["id"]: k["name"] for k in got.json()["items"]}

    async with api(live.gateways[0]) as first, api(live.gateways[1]) as second:
        for round_ in range(3):
            before = await names(second)  # both replicas have a list of the org now
            await names(first)
            key_id = await add_key(first, org, "anthropic")
            assert set(await names(second)) == {*before, key_id}
            renamed = f"renamed-{round_}"
            got = await first.patch(
                f"/ai-providers/{key_id}", json={"name": renamed}, headers=auth(org)
            )
            assert got.status_code == 200, got.text
            assert (await names(second))[key_id] == renamed
            assert (await names(first))[key_id] == renamed
            got = await first.delete(f"/ai-providers/{key_id}", headers=auth(org))
            assert got.status_code == 204, got.text
            assert key_id not in await names(second)
            assert key_id not in await names(first)
