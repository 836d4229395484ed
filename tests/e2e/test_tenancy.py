"""Cross-tenant matrix: every route tried with another org's ids answers exactly like a
missing object, and nothing of the other org changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.test_journeys import finished, run
from tests.support.e2e import E2E, add_key, add_workspace

pytestmark = pytest.mark.e2e


async def test_every_route_with_another_orgs_ids_answers_404(e2e: E2E, unique: str) -> None:
    org_a, org_b = f"org-a-{unique}", f"org-b-{unique}"
    async with (
        e2e.client(org_a) as a,
        e2e.client(org_b) as b,
        e2e.client(org_b, "MEMBER") as b_member,
    ):
        key = await add_key(a, "anthropic", "A's key", e2e.canary("anthropic"))
        workspace = await add_workspace(a, "A's workspace", [key["id"]])
        execution_id = await run(e2e, org_a, workspace["id"], "claude-haiku-4-5")
        assert (await finished(a, execution_id))["status"] == "succeeded"
        b_key = await add_key(b, "anthropic", "B's key", e2e.canary("anthropic"))
        b_workspace = await add_workspace(b, "B's workspace")

        body = {
            "model": "claude-haiku-4-5",
            "input": {"messages": [{"role": "user", "content": "x"}]},
        }
        attempts: list[tuple[httpx.AsyncClient, str, str, dict[str, Any] | None, str]] = [
            (b, "PATCH", "/ai-providers/{key}", {"name": "stolen"}, "key"),
            (b, "DELETE", "/ai-providers/{key}", None, "key"),
            (b, "GET", "/workspaces/{ws}", None, "ws"),
            (b, "PATCH", "/workspaces/{ws}", {"name": "stolen"}, "ws"),
            (b, "DELETE", "/workspaces/{ws}", None, "ws"),
            (b, "GET", "/workspaces/{ws}/models", None, "ws"),
            (b, "POST", "/workspaces/{ws}/executions", body, "ws"),
            (b, "GET", "/executions/{exec}", None, "exec"),
            (b_member, "GET", "/workspaces/{ws}", None, "ws"),
            (b_member, "GET", "/workspaces/{ws}/models", None, "ws"),
            (b_member, "POST", "/workspaces/{ws}/executions", body, "ws"),
            (b_member, "GET", "/executions/{exec}", None, "exec"),
        ]
        real = {"key": key["id"], "ws": workspace["id"], "exec": execution_id}
        missing = {
            "key": "key-does-not-exist",
            "ws": "ws-does-not-exist",
            "exec": "exec-does-not-exist",
        }
        for client, method, template, payload, kind in attempts:
            foreign = await client.request(
                method, template.format(**{kind: real[kind]}), json=payload
            )
            absent = await client.request(
                method, template.format(**{kind: missing[kind]}), json=payload
            )
            label = f"{method} {template}"
            assert foreign.status_code == 404, label
            assert absent.status_code == 404, label
            assert foreign.headers["content-type"].startswith("application/problem+json"), label
            assert foreign.json()["code"] == absent.json()["code"] == "not_found", label
            assert real[kind] not in foreign.text, label

        # B cannot assign A's key to its own workspace; A's key is invisible to B.
        refused = await b.patch(
            f"/workspaces/{b_workspace['id']}", json={"ai_provider_ids": [key["id"]]}
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "unknown_ai_provider"
        assert [k["id"] for k in (await b.get("/ai-providers")).json()["items"]] == [b_key["id"]]
        assert [w["id"] for w in (await b.get("/workspaces")).json()["items"]] == [
            b_workspace["id"]
        ]
        assert (await b.get("/audit", params={"key_id": key["id"]})).json()["items"] == []
        for group in ("key", "workspace", "model"):
            assert (await b.get("/usage", params={"group_by": group})).json()["items"] == []
        assert (await b.get("/plan")).json()["usage"]["executions_this_month"] == 0

        # A's world is untouched.
        assert (await a.get("/ai-providers")).json()["items"][0]["name"] == "A's key"
        assert (await a.get(f"/workspaces/{workspace['id']}")).json()["ai_provider_ids"] == [
            key["id"]
        ]
        assert (await a.get(f"/executions/{execution_id}")).json()["status"] == "succeeded"
        # A platform admin flag is not a tenant pass.
        async with e2e.client(org_b, "OWNER", platform_admin=True) as admin_b:
            assert (await admin_b.get(f"/workspaces/{workspace['id']}")).status_code == 404
