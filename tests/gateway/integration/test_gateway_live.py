"""The gateway against the REAL keyvault and workspace apps, FerretDB and Kafka."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from tests.gateway.support import FakeRunner, Stack, assert_problem, auth, problem_content

pytestmark = pytest.mark.integration

CANARY = "sk-ant-api03-CANARY" + secrets.token_hex(12)
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "input": {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32},
}


def api(live: Stack, replica: int = 0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{live.gateways[replica]}/api/v1", timeout=30)


async def add_key(c: httpx.AsyncClient, org: str, provider: str, name: str, secret: str) -> Any:
    response = await c.post(
        "/ai-providers",
        json={"provider": provider, "name": name, "api_key": secret},
        headers=auth(org),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def add_workspace(c: httpx.AsyncClient, org: str, name: str = "Sales") -> Any:
    response = await c.post("/workspaces", json={"name": name}, headers=auth(org))
    assert response.status_code == 201, response.text
    return response.json()


async def test_owner_adds_a_key_and_sees_only_the_masked_preview(live: Stack, org: str) -> None:
    async with api(live) as c:
        key = await add_key(c, org, "anthropic", "Production", CANARY)
        assert key["preview"] == f"sk-ant-…{CANARY[-4:]}"
        assert set(key) == {
            "id",
            "provider",
            "name",
            "preview",
            "created_at",
            "created_by",
            "last_used_at",
            "budget_usd_monthly",
            "expires_at",
            "spent_usd_month",
        }
        assert key["created_by"] == "user-1"
        listed = await c.get("/ai-providers", headers=auth(org))
        assert [k["id"] for k in listed.json()["items"]] == [key["id"]]
        renamed = await c.patch(
            f"/ai-providers/{key['id']}", json={"name": "Prod"}, headers=auth(org)
        )
        assert renamed.json()["name"] == "Prod"
        dup = await c.post(
            "/ai-providers",
            json={"provider": "openai", "name": "Prod", "api_key": "sk-proj-" + "d" * 32},
            headers=auth(org),
        )
        assert_problem(dup, 409, "name_taken")
        audit = await c.get("/audit", params={"key_id": key["id"]}, headers=auth(org))
        assert {e["action"] for e in audit.json()["items"]} >= {"created", "renamed"}
        for response in (listed, renamed, audit):
            assert CANARY not in response.text
        gone = await c.delete(f"/ai-providers/{key['id']}", headers=auth(org))
        assert gone.status_code == 204
        again = await c.delete(f"/ai-providers/{key['id']}", headers=auth(org))
        assert_problem(again, 404, "not_found")


async def test_rename_to_a_taken_name_is_409(live: Stack, org: str) -> None:
    async with api(live) as c:
        await add_key(c, org, "anthropic", "Prod", "sk-ant-" + secrets.token_hex(16))
        other = await add_key(c, org, "openai", "Other", "sk-proj-" + secrets.token_hex(16))
        clash = await c.patch(
            f"/ai-providers/{other['id']}", json={"name": "Prod"}, headers=auth(org)
        )
        assert_problem(clash, 409, "name_taken")


@pytest.mark.parametrize("role", ["MEMBER", "ADMIN"])
async def test_members_get_403_on_settings(live: Stack, org: str, role: str) -> None:
    async with api(live) as c:
        ws = await add_workspace(c, org)
        who = auth(org, role)
        calls = [
            c.get("/ai-providers", headers=who),
            c.post(
                "/ai-providers",
                json={"provider": "openai", "name": "x", "api_key": "sk-" + "a" * 30},
                headers=who,
            ),
            c.post("/workspaces", json={"name": "x"}, headers=who),
            c.patch(f"/workspaces/{ws['id']}", json={"name": "y"}, headers=who),
            c.delete(f"/workspaces/{ws['id']}", headers=who),
            c.get("/plan", headers=who),
            c.get("/usage", headers=who),
            c.get("/audit", headers=who),
        ]
        for response in await asyncio.gather(*calls):
            assert_problem(response, 403, "forbidden")
        assert (await c.get(f"/workspaces/{ws['id']}", headers=who)).status_code == 200
        assert (await c.get(f"/workspaces/{ws['id']}/models", headers=who)).json() == {"items": []}


async def test_plan_limit_409_and_plan_shows_it(live: Stack, org: str) -> None:
    async with api(live) as c:
        for i in range(3):
            await add_key(c, org, "openai", f"k{i}", f"sk-proj-{secrets.token_hex(16)}")
        over = await c.post(
            "/ai-providers",
            json={"provider": "openai", "name": "k4", "api_key": "sk-proj-" + "b" * 32},
            headers=auth(org),
        )
        assert_problem(over, 409, "plan_limit_reached")
        await add_workspace(c, org)
        plan = (await c.get("/plan", headers=auth(org))).json()
        assert plan["plan"] == "starter"
        assert plan["limits"] == {"provider_keys": 3, "workspaces": 3}
        assert plan["usage"]["provider_keys"] == 3
        assert plan["usage"]["workspaces"] == 1
        upgraded = await c.put(
            f"/admin/orgs/{org}/plan",
            json={"plan": "team"},
            headers=auth("org-platform", platform_admin=True),
        )
        assert upgraded.status_code == 200, upgraded.text
        assert upgraded.json()["limits"] == {"provider_keys": 10, "workspaces": 25}
        await asyncio.sleep(0.5)  # keyvault's plan read model follows workspace.plans.v1
        for _ in range(20):
            fourth = await c.post(
                "/ai-providers",
                json={"provider": "openai", "name": "k4", "api_key": "sk-proj-" + "c" * 32},
                headers=auth(org),
            )
            if fourth.status_code == 201:
                break
            await asyncio.sleep(0.25)
        assert fourth.status_code == 201, fourth.text
        unknown = await c.put(
            f"/admin/orgs/{org}/plan",
            json={"plan": "platinum"},
            headers=auth("org-platform", platform_admin=True),
        )
        assert_problem(unknown, 422, "unknown_plan")


async def test_assigned_keys_decide_the_models(live: Stack, org: str) -> None:
    async with api(live) as c:
        anthropic = await add_key(c, org, "anthropic", "A", "sk-ant-" + secrets.token_hex(16))
        openai = await add_key(c, org, "openai", "O", "sk-proj-" + secrets.token_hex(16))
        ws = await add_workspace(c, org)
        path = f"/workspaces/{ws['id']}"

        async def models() -> list[str]:
            return [
                m["provider"]
                for m in (await c.get(f"{path}/models", headers=auth(org, "MEMBER"))).json()[
                    "items"
                ]
            ]

        assert await models() == []
        done = await c.patch(path, json={"ai_provider_ids": [anthropic["id"]]}, headers=auth(org))
        assert done.status_code == 200, done.text
        assert done.json()["ai_provider_ids"] == [anthropic["id"]]
        assert set(await models()) == {"anthropic"}
        await c.patch(
            path, json={"ai_provider_ids": [openai["id"], anthropic["id"]]}, headers=auth(org)
        )
        got = await models()
        assert got.index("openai") > got.index("anthropic")  # catalog order
        assert set(got) == {"anthropic", "openai"}
        await c.delete(f"/ai-providers/{openai['id']}", headers=auth(org))
        assert set(await models()) == {"anthropic"}
        bad = await c.patch(path, json={"ai_provider_ids": ["key-nope"]}, headers=auth(org))
        assert_problem(bad, 422, "unknown_ai_provider")


async def test_cross_tenant_matrix_every_route_404_like_missing(live: Stack, unique: str) -> None:
    org_a, org_b = f"org-a{unique}", f"org-b{unique}"
    async with api(live) as c, FakeRunner(live.bootstrap, live.suffix):
        key = await add_key(c, org_a, "anthropic", "A", "sk-ant-" + secrets.token_hex(16))
        ws = await add_workspace(c, org_a)
        await c.patch(
            f"/workspaces/{ws['id']}", json={"ai_provider_ids": [key["id"]]}, headers=auth(org_a)
        )
        run = await c.post(
            f"/workspaces/{ws['id']}/executions",
            json={**MESSAGE, "wait_seconds": 10},
            headers=auth(org_a, "MEMBER"),
        )
        assert run.status_code == 200, run.text
        execution_id = run.json()["execution_id"]
        for _ in range(50):  # the ledger consumes the result asynchronously
            mine = await c.get(f"/executions/{execution_id}", headers=auth(org_a, "MEMBER"))
            if mine.status_code == 200 and mine.json()["status"] == "succeeded":
                break
            await asyncio.sleep(0.2)
        assert mine.status_code == 200, mine.text
        assert mine.json()["status"] == "succeeded", mine.text
        own_ws = await add_workspace(c, org_b)

        def routes(key_id: str, ws_id: str, ex_id: str) -> list[tuple[str, str, Any]]:
            return [
                ("PATCH", f"/ai-providers/{key_id}", {"name": "stolen"}),
                ("DELETE", f"/ai-providers/{key_id}", None),
                ("GET", f"/workspaces/{ws_id}", None),
                ("PATCH", f"/workspaces/{ws_id}", {"name": "stolen"}),
                ("GET", f"/workspaces/{ws_id}/models", None),
                ("POST", f"/workspaces/{ws_id}/executions", MESSAGE),
                ("GET", f"/executions/{ex_id}", None),
                ("DELETE", f"/workspaces/{ws_id}", None),
            ]

        theirs = routes(key["id"], ws["id"], execution_id)
        missing = routes("key-missing0", "ws-missing0", "exec-missing0")
        for (method, path, body), (_, missing_path, _) in zip(theirs, missing, strict=True):
            other = await c.request(method, path, json=body, headers=auth(org_b))
            absent = await c.request(method, missing_path, json=body, headers=auth(org_b))
            assert_problem(other, 404, "not_found")
            assert (other.status_code, problem_content(other)) == (
                absent.status_code,
                problem_content(absent),
            ), path
        # A's key cannot be assigned in B: the same answer as a key that does not exist.
        steal = await c.patch(
            f"/workspaces/{own_ws['id']}",
            json={"ai_provider_ids": [key["id"]]},
            headers=auth(org_b),
        )
        nothing = await c.patch(
            f"/workspaces/{own_ws['id']}",
            json={"ai_provider_ids": ["key-missing0"]},
            headers=auth(org_b),
        )
        assert_problem(steal, 422, "unknown_ai_provider")
        assert steal.json()["detail"].replace(key["id"], "X") == nothing.json()["detail"].replace(
            "key-missing0", "X"
        )
        # Lists, usage and audit of B show nothing of A.
        for path in (
            "/ai-providers",
            "/usage",
            "/usage?group_by=workspace",
            "/usage?group_by=model",
            f"/audit?key_id={key['id']}",
            "/audit",
        ):
            got = (await c.get(path, headers=auth(org_b))).json()
            assert key["id"] not in str(got), path
            assert ws["id"] not in str(got), path
        assert [
            w["id"] for w in (await c.get("/workspaces", headers=auth(org_b))).json()["items"]
        ] == [own_ws["id"]]
        # and A still has everything
        assert (await c.get(f"/workspaces/{ws['id']}", headers=auth(org_a))).status_code == 200
        usage = (await c.get("/usage?group_by=key", headers=auth(org_a))).json()["items"]
        assert any(r["executions"] >= 1 for r in usage), usage


async def test_two_replicas_each_receive_their_own_results(live: Stack, org: str) -> None:
    async with (
        api(live, 0) as c0,
        api(live, 1) as c1,
        FakeRunner(live.bootstrap, live.suffix) as runner,
    ):
        ws = await add_workspace(c0, org)
        path = f"/workspaces/{ws['id']}/executions"
        body = {**MESSAGE, "wait_seconds": 15}
        answers = await asyncio.gather(
            *(
                client.post(path, json=body, headers=auth(org, "MEMBER"))
                for client in (c0, c1, c0, c1)
            )
        )
        for response in answers:
            assert response.status_code == 200, response.text
            got = response.json()
            assert got["status"] == "succeeded"
            assert got["output"]["text"] == f"Hi. {got['execution_id']}"
            assert got["workspace_id"] == ws["id"]
        assert len({r.json()["execution_id"] for r in answers}) == 4
        published = [r for r in runner.seen if r.org_id == org]
        assert {p.workflow_id for p in published} == {"gateway-test"}
        queued = await c1.post(
            path, json={**MESSAGE, "wait_seconds": 0}, headers=auth(org, "MEMBER")
        )
        assert queued.status_code == 202
        assert queued.json()["status"] == "queued"


async def test_bounds_through_the_real_stack(live: Stack, org: str) -> None:
    async with api(live) as c:
        big = await c.post("/workspaces", json={"name": "x" * 70000}, headers=auth(org))
        assert_problem(big, 413, "payload_too_large")
        extra = await c.post("/workspaces", json={"name": "x", "org_id": "evil"}, headers=auth(org))
        assert_problem(extra, 422, "validation_error")
        ready = await httpx.AsyncClient().get(f"{live.gateway}/readyz")
        assert ready.json()["checks"] == {"started": "ok"}
