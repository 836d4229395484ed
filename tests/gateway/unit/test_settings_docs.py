"""Settings, CORS, the token command, and the OpenAPI / AsyncAPI documents."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.service import verify_token
from gateway.settings import DEV_JWT_SECRET, GatewaySettings
from shared.settings import ProductionSettingsError
from tests.gateway.fakes import InMemoryExecutionBus
from tests.gateway.support import FakeUpstreams, asgi_client, gateway_settings
from tests.support.prod import PROD_VALUES


def test_prod_accepts_only_oidc_so_needs_its_issuer() -> None:
    tokens: dict[str, Any] = PROD_VALUES
    settings = GatewaySettings(flowtrux_env="prod", **tokens)
    with pytest.raises(ProductionSettingsError, match="GATEWAY_OIDC_ISSUER"):
        create_app(settings, bus=InMemoryExecutionBus())
    fine = GatewaySettings(
        flowtrux_env="prod",
        gateway_oidc_issuer="https://id.example.test",
        gateway_oidc_client_id="flowtrux-ui",
        **tokens,
    )
    create_app(fine, bus=InMemoryExecutionBus())


def test_defaults() -> None:
    settings = GatewaySettings()
    assert settings.gateway_port == 8080
    assert settings.gateway_max_body_bytes == 65536
    assert settings.cors_origins() == []
    assert settings.gateway_jwt_secret.get_secret_value() == DEV_JWT_SECRET


async def test_cors_for_the_configured_origin_only(upstreams: FakeUpstreams) -> None:
    app = create_app(
        gateway_settings(gateway_cors_origins="http://ui.local:5173, https://app.example"),
        bus=InMemoryExecutionBus(),
        transport=upstreams.transport(),
    )
    async with asgi_client(app) as client:
        pre = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        ok = await client.options(
            "/api/v1/workspaces", headers={"Origin": "http://ui.local:5173", **pre}
        )
        assert ok.headers.get("access-control-allow-origin") == "http://ui.local:5173"
        bad = await client.options(
            "/api/v1/workspaces", headers={"Origin": "http://evil.example", **pre}
        )
        assert "access-control-allow-origin" not in bad.headers


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/healthz", headers={"Origin": "http://ui.local"})
    assert "access-control-allow-origin" not in response.headers


def test_token_command_prints_a_valid_jwt() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "token",
            "--org",
            "org-x",
            "--role",
            "MEMBER",
            "--platform-admin",
            "--ttl-hours",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "GATEWAY_JWT_SECRET": "cli-secret-0123456789abcdef0123456789",
        },
    )
    principal = verify_token("cli-secret-0123456789abcdef0123456789", out.stdout.strip())
    assert (principal.org_id, principal.role.value, principal.platform_admin) == (
        "org-x",
        "MEMBER",
        True,
    )


def test_token_command_refuses_a_bad_role() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "token", "--org", "org-x", "--role", "KING"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0


# Routes that need no token, so never answer 401.
PUBLIC = ("healthz", "readyz", "auth/options")


async def test_openapi_declares_examples_and_problem_errors(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["info"]["description"]
    operations = [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items()]
    assert len(operations) >= 19
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("description"), where
        success = [r for s, r in op["responses"].items() if s.startswith("2")]
        assert success, where
        assert any("example" in c for r in success for c in r.get("content", {}).values()) or (
            method == "delete"
        ), where
        errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
        assert "401" in errors or path.endswith(PUBLIC), where
        for status, response in errors.items():
            assert list(response["content"]) == ["application/problem+json"], (where, status)
        if "requestBody" in op:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
            assert schema.get("additionalProperties") is False, where
            assert schema.get("examples"), where
    assert "HTTPValidationError" not in doc["components"]["schemas"]


async def test_asyncapi_describes_every_topic(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/asyncapi")).json()
    assert doc["asyncapi"].startswith("2.")
    assert set(doc["channels"]) == {
        "agent.execution.requested.v1",
        "agent.execution.result.v1",
        "agent.execution.requested.v1.dlq",
        "keyvault.keys.v1",
        "workspace.assignments.v1",
        "workspace.plans.v1",
        "org.alerts.v1",
    }
    messages = doc["components"]["messages"]
    for name in (
        "OrgAlertRaised",
        "ExecutionRequested",
        "ExecutionResult",
        "ProviderKeyChanged",
        "WorkspaceAssignmentsChanged",
        "OrgPlanChanged",
    ):
        ref = messages[name]["payload"]["$ref"]
        schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert "event_id" in schema["properties"], name
        assert all("description" in f for f in schema["properties"].values()), name
    assert "x-error" in messages["ExecutionRequestedDeadLetter"]["headers"]["properties"]
