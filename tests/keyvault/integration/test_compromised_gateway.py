"""A compromised gateway: with exactly what the gateway process holds, no provider key leaks.

The attacker has the gateway's settings as docker-compose.yml gives them (its own service
token, the user-token secret, its Kafka principal; no keyring, no database, no other
service's token) and calls every route of a real keyvault (real FerretDB and Kafka) with
each credential it holds. What is tested: HTTP routes and the settings; the broker's ACLs
for the gateway's Kafka principal are in tests/infra/test_kafka_acls.py. The local FerretDB
does not enforce MongoDB users, so database isolation is configured (compose init script,
docs/SECURITY.md) but not tested here; the gateway has no MONGODB_URL to use in any case.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from gateway.settings import GatewaySettings
from keyvault.app import create_app
from keyvault.settings import KeyvaultSettings
from shared.crypto import new_recipient, open_sealed, seal_context
from tests.keyvault.integration.conftest import Running
from tests.support.servers import serve

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def strong() -> str:
    return secrets.token_urlsafe(32)


def gateway_environment(tokens: dict[str, str]) -> dict[str, str]:
    """The gateway's environment from docker-compose.yml, its secrets replaced by real ones."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = {k: str(v) for k, v in compose["services"]["gateway"]["environment"].items()}
    for name in env:
        if name.startswith("SERVICE_TOKEN_"):
            env[name] = tokens[name]
    env["GATEWAY_JWT_SECRET"] = strong()
    return env


async def test_the_gateway_cannot_obtain_any_provider_key(
    settings_factory: Callable[..., KeyvaultSettings],
    producer: AIOKafkaProducer,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = {
        f"SERVICE_TOKEN_{n}": strong() for n in ("GATEWAY", "KEYVAULT", "WORKSPACE", "AGENT_RUNNER")
    }
    kv_settings = settings_factory(**{k.lower(): v for k, v in tokens.items()})
    canary = "sk-ant-api03-CANARY" + secrets.token_urlsafe(30)
    org, ws = f"org-{unique}", f"ws-{unique}"

    # Exactly what the gateway process holds: its settings, built from its environment.
    env = gateway_environment(tokens)
    assert "KEYVAULT_MASTER_KEYS" not in env
    assert "MONGODB_URL" not in env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    held = GatewaySettings()
    held_secrets = {
        v.get_secret_value() for v in held.model_dump().values() if isinstance(v, SecretStr)
    }
    assert tokens["SERVICE_TOKEN_AGENT_RUNNER"] not in held_secrets
    assert held.service_tokens().keys() == {"gateway"}
    credentials = [None, *sorted(held_secrets)]

    app = create_app(kv_settings)
    async with serve(app) as url:
        admin = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {tokens['SERVICE_TOKEN_GATEWAY']}"}
        )
        runner = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {tokens['SERVICE_TOKEN_AGENT_RUNNER']}"},
        )
        kv = Running(url, kv_settings, admin, runner, producer)
        key_id = (await kv.create(org, "anthropic", "victim", canary)).json()["id"]
        await kv.assign(ws, org, [key_id])
        private, public = new_recipient()

        # The runner really can resolve it (so the refusals below are not an empty workspace).
        async def runner_gets_it() -> bool:
            answer = await kv.resolve(org, ws, "anthropic", public, execution_id="exec-r")
            return answer.status_code == 200

        async with asyncio.timeout(20):
            while not await runner_gets_it():
                await asyncio.sleep(0.05)
        sealed = (await kv.resolve(org, ws, "anthropic", public, execution_id="exec-s")).json()
        opened = open_sealed(
            private,
            base64.b64decode(sealed["sealed"]),
            seal_context(execution_id="exec-s", key_id=key_id),
        )
        assert opened.decode() == canary

        attacker_private, attacker_public = new_recipient()
        resolve_body = {
            "org_id": org,
            "workspace_id": ws,
            "provider": "anthropic",
            "execution_id": "exec-attacker",
            "public_key": base64.b64encode(attacker_public).decode(),
            "skip_key_ids": [],
        }
        bodies: dict[str, Any] = {
            "/internal/v1/resolve": resolve_body,
            "/internal/v1/resolve-batch": {"items": [resolve_body]},
            "/internal/v1/orgs/{org_id}/keys": {
                "provider": "openai",
                "name": "probe",
                "api_key": "sk-proj-" + "p" * 40,
                "actor": "attacker",
            },
            "/internal/v1/orgs/{org_id}/keys/{key_id}": {"name": "renamed", "actor": "attacker"},
        }
        # Every route keyvault documents (its OpenAPI document lists the internal API).
        routes = {
            path: sorted(m.upper() for m in operations)
            for path, operations in app.openapi()["paths"].items()
        }
        assert "/internal/v1/resolve-batch" in routes
        calls = 0
        for credential in credentials:
            headers = {"Authorization": f"Bearer {credential}"} if credential else {}
            async with httpx.AsyncClient(base_url=url, headers=headers) as attacker:
                for template, methods in routes.items():
                    path = template.format(org_id=org, key_id=key_id)
                    for method in methods:
                        if method == "DELETE":
                            continue  # destruction is not disclosure; tested elsewhere
                        body = bodies.get(template)
                        answer = await attacker.request(
                            method, path, json=body if method != "GET" else None
                        )
                        calls += 1
                        assert canary not in answer.text, (method, template)
                        assert canary[-12:] not in answer.text, (method, template)
                        if "resolve" in template:
                            assert answer.status_code in (401, 403), (credential, answer.text)
                            assert "sealed" not in answer.text
        assert calls > 10 * len(credentials) - 1
        await admin.aclose()
        await runner.aclose()
        del attacker_private
