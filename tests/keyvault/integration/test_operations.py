"""Verification with a stand-in provider, the rewrap CLI, prod refusal of a dev keyring."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymongo import AsyncMongoClient

from keyvault.app import create_app
from keyvault.settings import KeyvaultSettings
from shared.crypto import new_recipient, open_sealed, seal_context
from shared.settings import ProductionSettingsError
from tests.keyvault.integration.conftest import new_keyring_entry, start
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def provider_stand_in(seen: list[tuple[str, dict[str, str]]]) -> FastAPI:
    """Model-list routes of the three providers: 401 for keys containing 'bad', else 200."""
    app = FastAPI()

    def answer(request: Request, key: str) -> JSONResponse:
        seen.append((request.url.path, dict(request.headers)))
        if "bad" in key:
            return JSONResponse({"error": "invalid key"}, status_code=401)
        return JSONResponse({"data": []})

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "")
        return answer(request, key)

    @app.get("/v1beta/models")
    async def gemini_models(request: Request) -> JSONResponse:
        return answer(request, request.headers.get("x-goog-api-key", ""))

    return app


async def test_verify_rejects_refused_keys_and_stores_accepted_ones(
    settings_factory: Callable[..., KeyvaultSettings], producer: AIOKafkaProducer, unique: str
) -> None:
    seen: list[tuple[str, dict[str, str]]] = []
    org = f"org-vf-{unique}"
    async with serve(provider_stand_in(seen)) as base:
        settings = settings_factory(
            runner_anthropic_base_url=base, runner_openai_base_url=base, runner_google_base_url=base
        )
        async with await start(settings, producer) as kv:
            bad = "sk-ant-bad-" + secrets.token_urlsafe(24)
            refused = await kv.create(org, "anthropic", "bad", bad, verify=True)
            assert (refused.status_code, refused.json()["code"]) == (422, "key_rejected")
            assert bad not in refused.text
            assert seen[-1][0] == "/v1/models"
            assert seen[-1][1]["x-api-key"] == bad
            assert "anthropic-version" in seen[-1][1]
            good = {
                "anthropic": "sk-ant-" + secrets.token_urlsafe(24),
                "openai": "sk-proj-" + secrets.token_urlsafe(24),
                "google": "AIza" + secrets.token_urlsafe(24),
            }
            for provider, key in good.items():
                made = await kv.create(org, provider, provider, key, verify=True)
                assert made.status_code == 201, made.text
            assert seen[-2][1]["authorization"] == f"Bearer {good['openai']}"
            assert seen[-1][0] == "/v1beta/models"
            assert seen[-1][1]["x-goog-api-key"] == good["google"]
            assert "key=" not in str(seen[-1][0])
            listed = (await kv.gateway.get(f"/internal/v1/orgs/{org}/keys")).json()["items"]
            assert sorted(k["name"] for k in listed) == ["anthropic", "google", "openai"]
    unreachable = settings_factory(
        runner_openai_base_url=f"http://127.0.0.1:{free_port()}", keyvault_db=f"x{unique}"
    )
    async with await start(unreachable, producer) as kv:
        down = await kv.create(
            org, "openai", "down", "sk-" + secrets.token_urlsafe(24), verify=True
        )
        assert (down.status_code, down.json()["code"]) == (503, "provider_unreachable")
        assert (await kv.gateway.get(f"/internal/v1/orgs/{org}/keys-count")).json() == {"active": 0}


async def test_rewrap_cli_moves_every_record_to_the_active_version(
    settings_factory: Callable[..., KeyvaultSettings],
    producer: AIOKafkaProducer,
    mongo_url: str,
    db_name: str,
    unique: str,
) -> None:
    old = new_keyring_entry("v1")
    new = new_keyring_entry("v2")
    org, ws = f"org-rw-{unique}", f"ws-rw-{unique}"
    secrets_by_id: dict[str, str] = {}
    roomy = '{"starter": {"provider_keys": 10, "workspaces": 3}}'
    async with await start(
        settings_factory(keyvault_master_keys=old, flowtrux_plans=roomy), producer
    ) as kv:
        for n in range(5):
            secret = "sk-proj-" + secrets.token_urlsafe(24)
            response = await kv.create(org, "openai", f"k{n}", secret)
            assert response.status_code == 201, response.text
            secrets_by_id[response.json()["id"]] = secret
        await kv.assign(ws, org, list(secrets_by_id))
    env = {
        **os.environ,
        "KEYVAULT_MASTER_KEYS": f"{new},{old}",
        "KEYVAULT_DB": db_name,
        "MONGODB_URL": mongo_url,
        "LOG_FORMAT": "text",
    }
    for _ in range(2):  # idempotent: the second run finds nothing to do
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "keyvault",
            "rewrap",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        text = out.decode()
        assert "v2: 5 (active)" in text
        assert "v1: 0" in text
        assert "can be retired: v1" in text
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    try:
        versions = {d["kek_version"] async for d in client[db_name]["keys"].find({})}
    finally:
        await client.close()
    assert versions == {"v2"}
    # Only the new version is left in the keyring: every secret still resolves.
    async with await start(settings_factory(keyvault_master_keys=new), producer) as kv:
        private, public = new_recipient()
        for key_id, secret in secrets_by_id.items():
            others = [k for k in secrets_by_id if k != key_id]
            response = await kv.resolve(
                org, ws, "openai", public, execution_id="x", skip_key_ids=others
            )
            assert response.status_code == 200, response.text
            assert response.json()["key_id"] == key_id
            sealed = base64.b64decode(response.json()["sealed"])
            plain = open_sealed(private, sealed, seal_context(execution_id="x", key_id=key_id))
            assert plain.decode() == secret


async def test_prod_refuses_to_start_with_a_dev_keyring(
    settings_factory: Callable[..., KeyvaultSettings], tmp_path: Path
) -> None:
    tokens = {
        f"service_token_{n}": f"prod-{n}-0123456789abcdef"
        for n in ("gateway", "keyvault", "workspace", "agent_runner")
    }
    dev = settings_factory(
        flowtrux_env="prod", keyvault_master_keys=new_keyring_entry("dev-1"), **tokens
    )
    app = create_app(dev)
    with pytest.raises(ProductionSettingsError):
        async with app.router.lifespan_context(app):
            pass
    env = {
        **os.environ,
        "FLOWTRUX_ENV": "prod",
        "KEYVAULT_PORT": str(free_port()),
        **{k.upper(): v for k, v in tokens.items()},
    }
    env.pop("KEYVAULT_MASTER_KEYS", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "keyvault",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode != 0
    assert b"KEYVAULT_MASTER_KEYS" in err
    assert not (tmp_path / ".local").exists()
