"""Each service's settings hold only the secrets it uses (issue 13 item 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from agent_runner.settings import RunnerSettings
from gateway.settings import GatewaySettings
from keyvault.settings import KeyvaultSettings
from shared.settings import BaseServiceSettings, KafkaSettings
from workspace.settings import WorkspaceSettings

ROOT = Path(__file__).resolve().parents[2]

# The secrets each service may hold: its own service token, the tokens of the services that
# call it, and (keyvault only) the keyring. Kafka's SASL password is each service's own.
EXPECTED: dict[type[BaseServiceSettings], set[str]] = {
    GatewaySettings: {"service_token_gateway", "gateway_jwt_secret", "kafka_sasl_password"},
    RunnerSettings: {"service_token_agent_runner", "kafka_sasl_password", "mongodb_url"},
    WorkspaceSettings: {
        "mongodb_url",
        "service_token_workspace",
        "service_token_gateway",
        "service_token_keyvault",
        "kafka_sasl_password",
    },
    KeyvaultSettings: {
        "mongodb_url",
        "service_token_keyvault",
        "service_token_gateway",
        "service_token_workspace",
        "service_token_agent_runner",
        "keyvault_master_keys",
        "kafka_sasl_password",
    },
}
COMPOSE_NAMES = {
    GatewaySettings: "gateway",
    RunnerSettings: "agent-runner",
    WorkspaceSettings: "workspace",
    KeyvaultSettings: "keyvault",
}


def secret_fields(cls: type[BaseSettings]) -> set[str]:
    return {
        name
        for name, info in cls.model_fields.items()
        if "SecretStr" in str(info.annotation)
        or "master_keys" in name
        or name.startswith("service_token_")
    }


@pytest.mark.parametrize("cls", list(EXPECTED))
def test_settings_declare_only_the_secrets_the_service_uses(
    cls: type[BaseServiceSettings],
) -> None:
    assert secret_fields(cls) == EXPECTED[cls]


def test_the_shared_base_holds_no_secret() -> None:
    assert secret_fields(BaseServiceSettings) == {"kafka_sasl_password"}
    assert secret_fields(KafkaSettings) == {"kafka_sasl_password"}


@pytest.mark.parametrize("cls", [GatewaySettings, RunnerSettings, WorkspaceSettings])
def test_a_secret_in_the_environment_is_not_read_by_a_service_that_does_not_use_it(
    cls: type[BaseServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = {
        "KEYVAULT_MASTER_KEYS": "prod-1:planted-keyring-material",
        "SERVICE_TOKEN_AGENT_RUNNER": "planted-runner-token-0123456789abcdef",
        "SERVICE_TOKEN_KEYVAULT": "planted-keyvault-token-0123456789abcdef",
    }
    for name, value in planted.items():
        monkeypatch.setenv(name, value)
    settings = cls()
    held = {
        v.get_secret_value() if isinstance(v, SecretStr) else v
        for v in settings.model_dump().values()
    }
    for name, value in planted.items():
        if name.lower() not in EXPECTED[cls]:
            assert value not in held, f"{cls.__name__} read {name}"
    assert "keyring" not in dir(settings)


@pytest.mark.parametrize("cls", list(EXPECTED))
def test_compose_gives_each_service_only_its_own_secrets(cls: type[BaseServiceSettings]) -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"][COMPOSE_NAMES[cls]]["environment"]
    secrets = {
        k.lower()
        for k in env
        if "TOKEN" in k or "SECRET" in k or "MASTER_KEYS" in k or "PASSWORD" in k or "MONGODB" in k
    }
    assert secrets <= EXPECTED[cls], sorted(secrets - EXPECTED[cls])
