"""Scoped resolution with assignments published to the real workspace.assignments.v1 topic."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Header, HTTPException

from keyvault.settings import KeyvaultSettings
from shared.crypto import SealError, new_recipient, open_sealed, seal_context
from shared.settings import DEV_SERVICE_TOKENS
from tests.keyvault.integration.conftest import Running, start
from tests.support.servers import serve

pytestmark = pytest.mark.integration


def a_key(prefix: str = "sk-ant-api03-") -> str:
    return prefix + secrets.token_urlsafe(30)


async def until(
    predicate: Callable[[], object], seconds: float = 30.0, *, evidence: object = None
) -> float:
    """Await an async predicate becoming truthy; the seconds it took.

    The bound is generous (the whole suite shares two cores with Kafka and FerretDB): a
    passing condition returns at once, and a failing one names what it saw.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    while not await predicate():  # type: ignore[misc]
        assert loop.time() - began < seconds, f"condition not reached in time; saw {evidence!r}"
        await asyncio.sleep(0.02)
    return loop.time() - began


async def test_resolution_is_scoped_and_sealed(kv: Running, unique: str) -> None:
    org, other_org = f"org-a-{unique}", f"org-b-{unique}"
    secret_a1, secret_a2 = a_key(), a_key()
    a1 = (await kv.create(org, "anthropic", "a1", secret_a1)).json()["id"]
    a2 = (await kv.create(org, "anthropic", "a2", secret_a2)).json()["id"]
    oa = (await kv.create(org, "openai", "o1", a_key("sk-proj-"))).json()["id"]
    b1 = (await kv.create(other_org, "anthropic", "b1", a_key())).json()["id"]
    ws, ws_other = f"ws-{unique}", f"ws-other-{unique}"
    await kv.assign(ws, org, [a2, b1, a1])
    await kv.assign(ws_other, org, [oa])
    private, public = new_recipient()

    async def assigned() -> bool:
        return (await kv.resolve(org, ws, "anthropic", public)).status_code == 200

    await until(assigned)
    response = await kv.resolve(org, ws, "anthropic", public, execution_id="exec-9")
    body = response.json()
    assert body["key_id"] == a2  # the workspace's order; another org's key is never used
    sealed = base64.b64decode(body["sealed"])
    context = seal_context(execution_id="exec-9", key_id=a2)
    assert open_sealed(private, sealed, context).decode() == secret_a2
    with pytest.raises(SealError):
        open_sealed(new_recipient()[0], sealed, context)
    assert secret_a2 not in response.text

    skipped = await kv.resolve(org, ws, "anthropic", public, skip_key_ids=[a2])
    assert skipped.json()["key_id"] == a1
    none_left = await kv.resolve(org, ws, "anthropic", public, skip_key_ids=[a2, a1])
    assert (none_left.status_code, none_left.json()["code"]) == (409, "no_more_keys")

    unassigned = await kv.resolve(org, ws, "openai", public)
    assert (unassigned.status_code, unassigned.json()["code"]) == (409, "provider_not_configured")
    detail = unassigned.json()["detail"]
    assert ws in detail
    assert "openai" in detail
    assert "Settings → Workspaces" in detail
    other_ws = await kv.resolve(org, ws_other, "anthropic", public)
    assert other_ws.json()["code"] == "provider_not_configured"
    foreign = await kv.resolve(other_org, ws, "anthropic", public)
    assert foreign.json()["code"] == "provider_not_configured"
    missing = await kv.resolve(org, f"ws-nope-{unique}", "anthropic", public)
    assert missing.json()["code"] == "provider_not_configured"

    bad_key = await kv.runner.post(
        "/internal/v1/resolve",
        json={
            "org_id": org,
            "workspace_id": ws,
            "provider": "anthropic",
            "execution_id": "e",
            "public_key": base64.b64encode(b"short").decode(),
        },
    )
    assert (bad_key.status_code, bad_key.json()["code"]) == (422, "validation_error")
    assert "public_key" in bad_key.json()["detail"]

    audit = (await kv.gateway.get(f"/internal/v1/orgs/{org}/audit", params={"key_id": a2})).json()
    resolved = [e for e in audit["items"] if e["action"] == "resolved"]
    assert {(e["workspace_id"], e["execution_id"], e["actor"]) for e in resolved} >= {
        (ws, "exec-9", "agent-runner")
    }
    assert audit["items"][-1]["action"] == "created"
    org_audit = (await kv.gateway.get(f"/internal/v1/orgs/{org}/audit")).json()["items"]
    assert {e["key_id"] for e in org_audit} == {a1, a2, oa}

    async def used() -> bool:
        key = (await kv.gateway.get(f"/internal/v1/orgs/{org}/keys/{a2}")).json()
        return key["last_used_at"] is not None

    await until(used)


async def test_unassign_and_delete_are_refused_at_once(kv: Running, unique: str) -> None:
    org, ws = f"org-r-{unique}", f"ws-r-{unique}"
    k1 = (await kv.create(org, "google", "g1", a_key("AIza"))).json()["id"]
    k2 = (await kv.create(org, "google", "g2", a_key("AIza"))).json()["id"]
    await kv.assign(ws, org, [k1, k2])
    _, public = new_recipient()

    seen: list[object] = []
    answers: list[tuple[int, object]] = []  # (status, code) of every answer, for a failure

    async def uses(key_id: str | None) -> bool:
        response = await kv.resolve(org, ws, "google", public)
        resolved: object = response.json().get("key_id")
        seen.append(resolved)
        answers.append((response.status_code, response.json().get("code")))
        return resolved == key_id

    await until(lambda: uses(k1), evidence=answers)
    # Delete: refused at once — no resolution after the 204 returns the deleted key (one may
    # be a 503 "read models behind, retry" on a loaded machine) — and the next key takes over.
    assert (await kv.gateway.delete(f"/internal/v1/orgs/{org}/keys/{k1}")).status_code == 204
    seen.clear()
    await until(lambda: uses(k2), evidence=answers)
    assert k1 not in seen
    # Unassign: once the event is acknowledged by the broker no resolution returns a key
    # (the read fence makes a resolution wait for, or refuse without, the applied event).
    await kv.assign(ws, org, [])
    seen.clear()

    async def refused() -> bool:
        response = await kv.resolve(org, ws, "google", public)
        seen.append(response.json().get("key_id"))
        answers.append((response.status_code, response.json().get("code")))
        return bool(response.json().get("code") == "provider_not_configured")

    await until(refused, evidence=answers)
    assert set(seen) == {None}


def workspace_stand_in(answers: dict[tuple[str, str], list[str]]) -> FastAPI:
    """The documented workspace route, enough for keyvault's confirmation call."""
    app = FastAPI()
    keyvault_token = f"Bearer {DEV_SERVICE_TOKENS['keyvault']}"

    @app.get("/internal/v1/orgs/{org_id}/workspaces/{ws_id}")
    async def get_workspace(
        org_id: str, ws_id: str, authorization: str = Header("")
    ) -> dict[str, object]:
        if authorization != keyvault_token:
            raise HTTPException(401)
        if (org_id, ws_id) not in answers:
            raise HTTPException(404)
        return {
            "id": ws_id,
            "org_id": org_id,
            "name": "w",
            "ai_provider_ids": answers[(org_id, ws_id)],
            "created_at": "2025-01-01T00:00:00Z",
        }

    return app


async def test_a_just_made_assignment_is_confirmed_over_http(
    settings_factory: Callable[..., KeyvaultSettings], producer: AIOKafkaProducer, unique: str
) -> None:
    org, ws = f"org-h-{unique}", f"ws-h-{unique}"
    answers: dict[tuple[str, str], list[str]] = {}
    async with serve(workspace_stand_in(answers)) as workspace_url:
        settings = settings_factory(workspace_url=workspace_url)
        async with await start(settings, producer) as kv:
            secret = a_key("sk-")
            key_id = (await kv.create(org, "openai", "o", secret)).json()["id"]
            private, public = new_recipient()
            refused = await kv.resolve(org, ws, "openai", public)
            assert refused.json()["code"] == "provider_not_configured"
            answers[(org, ws)] = [key_id]  # assigned in workspace; no event published
            response = await kv.resolve(org, ws, "openai", public, execution_id="ex-h")
            assert response.status_code == 200, response.text
            sealed = base64.b64decode(response.json()["sealed"])
            opened = open_sealed(private, sealed, seal_context(execution_id="ex-h", key_id=key_id))
            assert opened.decode() == secret
            other = await kv.resolve(f"org-x-{unique}", ws, "openai", public)
            assert other.json()["code"] == "provider_not_configured"


async def test_a_batch_answers_each_item_on_its_own(kv: Running, unique: str) -> None:
    """`/resolve-batch`: grants, refusals and invalid items side by side, each audited once."""
    org, other_org = f"org-a-{unique}", f"org-b-{unique}"
    secret_a = a_key()
    a1 = (await kv.create(org, "anthropic", "a1", secret_a)).json()["id"]
    b1 = (await kv.create(other_org, "anthropic", "b1", a_key())).json()["id"]
    ws = f"ws-{unique}"
    await kv.assign(ws, org, [a1, b1])
    recipients = [new_recipient() for _ in range(5)]

    def item(i: int, **over: object) -> dict[str, object]:
        return {
            "org_id": org,
            "workspace_id": ws,
            "provider": "anthropic",
            "execution_id": f"exec-{unique}-{i}",
            "public_key": base64.b64encode(recipients[i][1]).decode(),
            "skip_key_ids": [],
            **over,
        }

    async def assigned() -> bool:
        return (await kv.resolve(org, ws, "anthropic", recipients[0][1])).status_code == 200

    await until(assigned)
    batch = [
        item(0),
        item(1, provider="openai"),  # nothing assigned
        item(2, skip_key_ids=[a1]),  # every key skipped (b1 is another org's)
        item(3, public_key="bm90LWEta2V5"),  # not 32 bytes
        item(4, org_id=other_org),  # another org asking for this workspace
    ]
    response = await kv.runner.post("/internal/v1/resolve-batch", json={"items": batch})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == len(batch)
    assert items[0]["key_id"] == a1
    assert items[0]["error"] is None
    sealed = base64.b64decode(items[0]["sealed"])
    context = seal_context(execution_id=f"exec-{unique}-0", key_id=a1)
    assert open_sealed(recipients[0][0], sealed, context).decode() == secret_a
    codes = [i["error"]["code"] if i["error"] else None for i in items]
    assert codes == [
        None,
        "provider_not_configured",
        "no_more_keys",
        "validation_error",
        "provider_not_configured",
    ]
    assert "openai" in items[1]["error"]["detail"]
    assert ws in items[1]["error"]["detail"]
    assert all(i["sealed"] is None for i in items[1:])
    audit = (await kv.gateway.get(f"/internal/v1/orgs/{org}/audit", params={"key_id": a1})).json()
    resolved = [e["execution_id"] for e in audit["items"] if e["action"] == "resolved"]
    assert resolved.count(f"exec-{unique}-0") == 1
    assert not any(e.endswith(("-1", "-2", "-3", "-4")) for e in resolved if unique in e)


async def test_a_batch_is_for_the_runner_only_and_bounded(kv: Running, unique: str) -> None:
    one = {
        "org_id": f"org-{unique}",
        "workspace_id": f"ws-{unique}",
        "provider": "anthropic",
        "execution_id": "exec-1",
        "public_key": base64.b64encode(new_recipient()[1]).decode(),
    }
    refused = await kv.gateway.post("/internal/v1/resolve-batch", json={"items": [one]})
    assert refused.status_code == 403
    assert (
        await kv.runner.post("/internal/v1/resolve-batch", json={"items": []})
    ).status_code == 422
    too_many = await kv.runner.post("/internal/v1/resolve-batch", json={"items": [one] * 257})
    assert too_many.status_code == 422
