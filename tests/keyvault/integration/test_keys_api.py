"""The internal HTTP API against real Kafka and FerretDB: CRUD, the 25-way race, credentials."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from tests.keyvault.integration.conftest import Running

pytestmark = pytest.mark.integration


def a_key(prefix: str = "sk-ant-api03-") -> str:
    return prefix + secrets.token_urlsafe(30)


async def test_25_concurrent_creates_against_limit_3_make_exactly_3(
    kv: Running, unique: str
) -> None:
    org = f"org-race-{unique}"
    responses = await asyncio.gather(
        *(kv.create(org, "openai", f"key {n}", a_key("sk-proj-")) for n in range(25))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 3
    assert codes.count(409) == 22
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"plan_limit_reached"}
    listed = (await kv.gateway.get(f"/internal/v1/orgs/{org}/keys")).json()["items"]
    assert len(listed) == 3
    assert (await kv.gateway.get(f"/internal/v1/orgs/{org}/keys-count")).json() == {"active": 3}
    # Deleting a key frees its slot, exactly one.
    deleted = await kv.gateway.delete(
        f"/internal/v1/orgs/{org}/keys/{listed[0]['id']}", params={"actor": "u"}
    )
    assert deleted.status_code == 204
    again = await asyncio.gather(
        *(kv.create(org, "openai", f"again {n}", a_key("sk-")) for n in range(5))
    )
    assert sorted(r.status_code for r in again) == [201, 409, 409, 409, 409]


async def test_plan_from_read_model_raises_the_limit(kv: Running, unique: str) -> None:
    org = f"org-team-{unique}"
    for n in range(3):
        assert (await kv.create(org, "google", f"k{n}", a_key("AIza"))).status_code == 201
    refused = await kv.create(org, "google", "fourth", a_key("AIza"))
    assert refused.json()["code"] == "plan_limit_reached"
    await kv.set_plan(org, "team", 4)
    deadline = asyncio.get_running_loop().time() + 30  # generous: two shared cores in CI
    while (response := await kv.create(org, "google", "fourth", a_key("AIza"))).status_code != 201:
        assert response.json()["code"] == "plan_limit_reached"
        assert asyncio.get_running_loop().time() < deadline, "plan change never reached keyvault"
        await asyncio.sleep(0.05)
    assert (await kv.create(org, "google", "fifth", a_key("AIza"))).status_code == 409


async def test_crud_and_problem_answers(kv: Running, unique: str) -> None:
    org = f"org-crud-{unique}"
    created = await kv.create(org, "anthropic", "Prod", a_key())
    assert created.status_code == 201, created.text
    key = created.json()
    assert set(key) == {
        "id",
        "org_id",
        "provider",
        "name",
        "preview",
        "status",
        "created_at",
        "created_by",
        "last_used_at",
        "budget_usd_monthly",
        "expires_at",
        "spent_usd_month",
    }
    assert key["preview"].startswith("sk-ant-…")
    assert len(key["preview"]) == len("sk-ant-…") + 4
    assert key["created_by"] == "user-1"
    assert key["status"] == "active"
    dup = await kv.create(org, "openai", "prod", a_key("sk-"))
    assert dup.status_code == 409
    assert dup.json()["code"] == "name_taken"
    assert dup.headers["content-type"].startswith("application/problem+json")
    renamed = await kv.gateway.patch(
        f"/internal/v1/orgs/{org}/keys/{key['id']}", json={"name": "Staging", "actor": "u2"}
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Staging"
    assert (
        await kv.gateway.get(f"/internal/v1/orgs/other-{unique}/keys/{key['id']}")
    ).status_code == 404
    assert (await kv.gateway.delete(f"/internal/v1/orgs/{org}/keys/{key['id']}")).status_code == 204
    assert (await kv.gateway.delete(f"/internal/v1/orgs/{org}/keys/{key['id']}")).status_code == 404
    got = (await kv.gateway.get(f"/internal/v1/orgs/{org}/keys/{key['id']}")).json()
    assert got["status"] == "deleted"
    assert got["name"] == "Staging"
    assert (await kv.gateway.get(f"/internal/v1/orgs/{org}/keys")).json()["items"] == []
    with_deleted = await kv.gateway.get(
        f"/internal/v1/orgs/{org}/keys", params={"include_deleted": "true"}
    )
    assert [k["id"] for k in with_deleted.json()["items"]] == [key["id"]]
    audit = (
        await kv.gateway.get(f"/internal/v1/orgs/{org}/audit", params={"key_id": key["id"]})
    ).json()["items"]
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("deleted", "unknown"),
        ("renamed", "u2"),
        ("created", "user-1"),
    ]


BAD_INPUT: list[tuple[dict[str, object], str]] = [
    ({"provider": "mistral", "name": "n", "api_key": "sk-" + "a" * 30}, "provider"),
    ({"provider": "openai", "name": "", "api_key": "sk-" + "a" * 30}, "name"),
    ({"provider": "openai", "name": "n" * 65, "api_key": "sk-" + "a" * 30}, "name"),
    ({"provider": "openai", "name": "n", "api_key": ""}, "api_key"),
    ({"provider": "openai", "name": "n", "api_key": "sk-short"}, "api_key"),
    ({"provider": "openai", "name": "n", "api_key": "sk-" + "a" * 600}, "api_key"),
    ({"provider": "openai", "name": "n", "api_key": "sk-aaaaaaaaaa bbbbbbbbbbbb"}, "api_key"),
    (
        {"provider": "openai", "name": "n", "api_key": "sk-aaaaaaaaaa\x01bbbbbbbbbbbb"},
        "api_key",
    ),
    ({"provider": "openai", "name": "n"}, "api_key"),
    ({"provider": "openai", "name": "n", "api_key": 12345}, "api_key"),
]


async def test_bad_input_is_a_422_naming_the_field(kv: Running, unique: str) -> None:
    for body, field in BAD_INPUT:
        response = await kv.gateway.post(f"/internal/v1/orgs/org-v-{unique}/keys", json=body)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == "validation_error"
        assert field in problem["detail"]
        secret = body.get("api_key")
        if isinstance(secret, str) and secret:
            assert secret not in response.text
    listed = await kv.gateway.get(f"/internal/v1/orgs/org-v-{unique}/keys")
    assert listed.json()["items"] == []


async def test_service_credentials_are_required(kv: Running) -> None:
    async with httpx.AsyncClient(base_url=kv.url) as anonymous:
        assert (await anonymous.get("/internal/v1/orgs/o/keys")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await anonymous.get("/internal/v1/orgs/o/keys", headers=wrong)).status_code == 401
        assert (await anonymous.post("/internal/v1/resolve", json={})).status_code == 401
        assert (await anonymous.get("/healthz")).status_code == 200
        assert (await anonymous.get("/readyz")).status_code == 200
    forbidden = await kv.gateway.post("/internal/v1/resolve", json={})
    assert forbidden.status_code == 403
