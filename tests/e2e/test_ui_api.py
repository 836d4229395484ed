"""The API the Settings UI needs, on the real stack: who am I, replacing a key's value in
place, paged audit and recent runs, the UI's files, and an execution status that never goes
backwards across gateway replicas."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_journeys import key_hashes_seen
from tests.support.e2e import E2E, PORTS, ROOT, add_key, add_workspace, read_topic, sha256, wait_for

pytestmark = pytest.mark.e2e
MODEL = "claude-haiku-4-5"
SECOND_GATEWAY_PORT = PORTS["second-gateway"]


def run_body(prompt: str = "Hello", wait: float = 30) -> dict[str, Any]:
    return {
        "model": MODEL,
        "input": {"messages": [{"role": "user", "content": prompt}], "max_tokens": 32},
        "wait_seconds": wait,
    }


async def test_me_names_the_signed_in_caller(e2e: E2E, unique: str) -> None:
    org = f"org-{unique}"
    async with e2e.client(org, "ADMIN") as client:
        me = await client.get("/me")
    assert me.status_code == 200
    assert me.json() == {
        "sub": f"user-admin-{org}",
        "org_id": org,
        "role": "ADMIN",
        "platform_admin": False,
    }
    async with httpx.AsyncClient(base_url=f"{e2e.gateway}/api/v1") as anonymous:
        assert (await anonymous.get("/me")).status_code == 401


async def test_dev_sign_in_gives_a_working_token_in_dev(e2e: E2E, unique: str) -> None:
    org = f"org-{unique}"
    async with httpx.AsyncClient(base_url=f"{e2e.gateway}/api/v1") as anonymous:
        options = (await anonymous.get("/auth/options")).json()
        assert options == {"dev_sign_in": True, "oidc": None}
        signed = await anonymous.post("/dev/sign-in", json={"org_id": org, "role": "MEMBER"})
        assert signed.status_code == 200, signed.text
        token = signed.json()["token"]
        me = await anonymous.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["org_id"] == org
        assert me.json()["role"] == "MEMBER"
        bad = await anonymous.post("/dev/sign-in", json={"org_id": "bad org", "role": "OWNER"})
        assert bad.status_code == 422
        assert bad.json()["code"] == "validation_error"


async def test_replacing_a_key_keeps_id_and_assignments_and_the_next_run_uses_it(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    _org, client = owner
    old, new = e2e.canary("anthropic"), e2e.canary("anthropic")
    key = await add_key(client, "anthropic", "Rotating", old)
    ws = await add_workspace(client, "Replace", [key["id"]])
    first = await client.post(f"/workspaces/{ws['id']}/executions", json=run_body())
    assert first.json()["status"] == "succeeded", first.text

    replaced = await client.patch(f"/ai-providers/{key['id']}", json={"api_key": new})
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["id"] == key["id"]
    assert body["name"] == "Rotating"
    assert body["preview"] == f"sk-ant-…{new[-4:]}" != key["preview"]
    assert (await client.get(f"/workspaces/{ws['id']}")).json()["ai_provider_ids"] == [key["id"]]

    second = await client.post(f"/workspaces/{ws['id']}/executions", json=run_body())
    assert second.json()["status"] == "succeeded", second.text
    assert second.json()["key_id"] == key["id"]
    seen = [r for r in await e2e.sim_requests() if r["key_sha256"] in {sha256(old), sha256(new)}]
    assert [r["key_sha256"] for r in seen][-1] == sha256(new)
    assert key_hashes_seen(seen) == {sha256(old), sha256(new)}

    audit = (await client.get("/audit", params={"key_id": key["id"]})).json()["items"]
    assert "key.replaced" in [a["action"] for a in audit]
    assert await _key_event_preview(e2e, key["id"]) == body["preview"]

    refused = await client.patch(f"/ai-providers/{key['id']}", json={"api_key": "   "})
    assert refused.status_code == 422
    nothing = await client.patch(f"/ai-providers/{key['id']}", json={})
    assert nothing.status_code == 422
    assert "name" in nothing.json()["detail"]
    rejected = await client.patch(
        f"/ai-providers/{key['id']}",
        json={"api_key": e2e.canary("anthropic", "fail401"), "verify": True},
    )
    assert rejected.status_code == 422
    assert rejected.json()["code"] == "key_rejected"
    kept = (await client.get("/ai-providers")).json()["items"]
    assert [k["preview"] for k in kept] == [body["preview"]]


async def _key_event_preview(e2e: E2E, key_id: str) -> str | None:
    """The preview in the latest keyvault.keys.v1 record of `key_id`."""
    records = await read_topic(e2e.bootstrap, e2e.topics["keys"])
    mine = [r for r in records if r.key == key_id.encode() and r.value]
    return str(json.loads(mine[-1].value)["preview"]) if mine else None


async def test_audit_pages_newest_first_without_gaps_or_repeats(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    _org, client = owner
    key = await add_key(client, "anthropic", "Audited", e2e.canary("anthropic"))
    for n in range(12):
        renamed = await client.patch(f"/ai-providers/{key['id']}", json={"name": f"Audited {n}"})
        assert renamed.status_code == 200
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/audit", params=params)).json()
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [a["action"] for a in seen] == ["renamed"] * 12 + ["created"]
    # Compared as times, not strings: RFC 3339 leaves out a zero fraction ("…:34Z"), which
    # sorts after "…:34.185Z" as text though it is earlier.
    stamps = [datetime.fromisoformat(a["at"]) for a in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert (await client.get("/audit", params={"limit": 500})).json()["next_cursor"] is None
    bad = await client.get("/audit", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"
    assert (await client.get("/audit", params={"limit": 501})).status_code == 422


async def test_recent_runs_of_a_workspace_page_newest_first_with_key_names(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    org, client = owner
    key = await add_key(client, "anthropic", "Runs key", e2e.canary("anthropic"))
    ws = await add_workspace(client, "Runs", [key["id"]])
    other = await add_workspace(client, "Other", [key["id"]])
    ids = []
    for n in range(5):
        done = await client.post(f"/workspaces/{ws['id']}/executions", json=run_body(f"n{n}"))
        ids.append(done.json()["execution_id"])
    await client.post(f"/workspaces/{other['id']}/executions", json=run_body())
    first = (await client.get(f"/workspaces/{ws['id']}/executions", params={"limit": 3})).json()
    rest = await client.get(
        f"/workspaces/{ws['id']}/executions", params={"limit": 3, "cursor": first["next_cursor"]}
    )
    items = first["items"] + rest.json()["items"]
    assert rest.json()["next_cursor"] is None
    assert [i["execution_id"] for i in items] == list(reversed(ids))
    assert {i["status"] for i in items} == {"succeeded"}
    assert {i["key_name"] for i in items} == {"Runs key"}
    assert all(i["finished_at"] for i in items)
    async with e2e.client(org, "MEMBER") as member:
        listed = await member.get(f"/workspaces/{ws['id']}/executions")
        assert listed.status_code == 200
        assert len(listed.json()["items"]) == 5
    async with e2e.client(f"{org}-x", "OWNER") as stranger:
        assert (await stranger.get(f"/workspaces/{ws['id']}/executions")).status_code == 404


@pytest.fixture
def second_gateway(e2e: E2E) -> Iterator[str]:
    """Another gateway replica of the same stack, as a second pod would be."""
    env = {**e2e.service_env, "GATEWAY_PORT": str(SECOND_GATEWAY_PORT)}
    log = (ROOT / ".local" / "logs" / "e2e-gateway-2.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{SECOND_GATEWAY_PORT}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            assert proc.poll() is None, "the second gateway exited"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@contextlib.asynccontextmanager
async def replica(e2e: E2E, url: str, org: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {e2e.token(org, 'OWNER')}"}
    async with httpx.AsyncClient(base_url=f"{url}/api/v1", headers=headers, timeout=60) as c:
        yield c


async def test_status_never_goes_backwards_across_gateway_replicas(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient], second_gateway: str
) -> None:
    org, client = owner
    key = await add_key(client, "anthropic", "Replicas", e2e.canary("anthropic"))
    ws = await add_workspace(client, "Replicas", [key["id"]])
    async with replica(e2e, second_gateway, org) as other:

        async def once(n: int) -> None:
            ran = await client.post(f"/workspaces/{ws['id']}/executions", json=run_body(f"{n}"))
            assert ran.status_code == 200, ran.text
            shown = ran.json()
            assert shown["status"] == "succeeded"
            assert shown["key_name"] == "Replicas"
            read = (await other.get(f"/executions/{shown['execution_id']}")).json()
            assert read["status"] == "succeeded"
            assert read["output"] == shown["output"]
            listed = (await other.get(f"/workspaces/{ws['id']}/executions")).json()["items"]
            mine = [i for i in listed if i["execution_id"] == shown["execution_id"]]
            assert [i["status"] for i in mine] == ["succeeded"]

        await asyncio.gather(*(once(n) for n in range(20)))


async def test_the_gateway_serves_the_ui_with_strict_headers(e2e: E2E) -> None:
    dist = ROOT / "services" / "web" / "dist"
    assert (dist / "index.html").is_file(), "the UI is not built (deploy/local/web.sh)"
    async with httpx.AsyncClient(base_url=e2e.gateway) as client:
        for path in ("/", "/settings/ai-providers", "/workspaces/ws-1"):
            page = await client.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-cache"
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp
            assert "connect-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "<script>" not in page.text  # no inline script
        asset = _an_asset(dist)
        got = await client.get(f"/{asset}")
        assert got.status_code == 200
        assert "immutable" in got.headers["cache-control"]
        api = await client.get("/api/v1/no-such-route")
        assert api.status_code == 404
        assert api.headers["content-type"].startswith("application/problem+json")
        assert (await client.get("/assets/../../pyproject.toml")).text == page.text


def _an_asset(dist: Path) -> str:
    return next(str(p.relative_to(dist)) for p in (dist / "assets").iterdir() if p.is_file())


async def test_a_queued_run_turns_into_its_outcome_and_never_back(
    e2e: E2E, owner: tuple[str, httpx.AsyncClient]
) -> None:
    """A queued answer (wait 0) turns into the outcome on a later read, never the reverse."""
    _org, client = owner
    key = await add_key(client, "anthropic", "Later", e2e.canary("anthropic"))
    ws = await add_workspace(client, "Later", [key["id"]])
    queued = await client.post(f"/workspaces/{ws['id']}/executions", json=run_body(wait=0))
    assert queued.status_code == 202
    execution_id = queued.json()["execution_id"]

    async def outcome() -> dict[str, Any] | None:
        got = await client.get(f"/executions/{execution_id}")
        body: dict[str, Any] = got.json()
        return body if got.status_code == 200 and body["status"] != "queued" else None

    done = await wait_for(outcome, timeout=30, interval=0.2)
    assert done["status"] == "succeeded"
    for _ in range(5):
        assert (await client.get(f"/executions/{execution_id}")).json()["status"] == "succeeded"
