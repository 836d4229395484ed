"""FLOWTRUX_ENV=prod refuses unsafe settings at start, naming each one (issue 13 item 5)."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent_runner.settings import RunnerSettings
from gateway.settings import GatewaySettings
from keyvault.service.envelope import COMPOSE_DEV_KEK, format_keyring, load_or_create_dev_keyring
from keyvault.settings import KeyvaultSettings
from shared.settings import BaseServiceSettings, ProductionSettingsError
from workspace.settings import WorkspaceSettings

SASL: dict[str, Any] = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "svc",
    "kafka_sasl_password": "kafka-password",
}


def strong() -> str:
    return secrets.token_urlsafe(32)


def tokens() -> dict[str, Any]:
    return {
        f"service_token_{n}": strong() for n in ("gateway", "keyvault", "workspace", "agent_runner")
    }


def good_keyring() -> str:
    return f"prod-1:{base64.b64encode(os.urandom(32)).decode()}"


OIDC: dict[str, Any] = {
    "gateway_oidc_issuer": "https://id.example.test",
    "gateway_oidc_client_id": "flowtrux-ui",
}


def prod(cls: type[BaseServiceSettings], **values: Any) -> BaseServiceSettings:
    identity = OIDC if cls is GatewaySettings else {}
    return cls(flowtrux_env="prod", **{**SASL, **tokens(), **identity, **values})


def refusal(settings: BaseServiceSettings) -> str:
    with pytest.raises(ProductionSettingsError) as err:
        settings.check_production()
    return str(err.value)


def test_production_settings_pass() -> None:
    prod(GatewaySettings, gateway_jwt_secret=strong()).check_production()
    prod(WorkspaceSettings).check_production()
    prod(RunnerSettings).check_production()
    prod(KeyvaultSettings, keyvault_master_keys=good_keyring()).check_production()


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_hs256_secret_shorter_than_32_bytes_is_refused(env: str) -> None:
    # Dev tokens only exist in dev (prod takes only the OIDC provider's), but a short HS256
    # secret is refused wherever it is set.
    with pytest.raises(ValidationError) as err:
        GatewaySettings(flowtrux_env=env, gateway_jwt_secret="x" * 31)
    message = str(err.value)
    assert "GATEWAY_JWT_SECRET" in message
    assert "32 bytes" in message
    assert "x" * 31 not in message


@pytest.mark.parametrize("cls", [GatewaySettings, WorkspaceSettings, RunnerSettings])
def test_short_service_token_is_refused(cls: type[BaseServiceSettings]) -> None:
    name = cls.SERVICE.replace("-", "_")
    settings = prod(cls, gateway_jwt_secret=strong(), **{f"service_token_{name}": "short-token"})
    message = refusal(settings)
    assert f"SERVICE_TOKEN_{name.upper()} (shorter than 32 bytes)" in message
    assert "short-token" not in message


def test_service_tokens_must_be_distinct() -> None:
    same = strong()
    settings = prod(WorkspaceSettings, service_token_gateway=same, service_token_keyvault=same)
    message = refusal(settings)
    assert "SERVICE_TOKEN_KEYVAULT (the same value as SERVICE_TOKEN_GATEWAY" in message
    assert same not in message


def test_dev_default_token_is_refused() -> None:
    settings = RunnerSettings(flowtrux_env="prod", **SASL)
    assert "SERVICE_TOKEN_AGENT_RUNNER" in refusal(settings)


@pytest.mark.parametrize("provider", ["ANTHROPIC", "OPENAI", "GOOGLE"])
@pytest.mark.parametrize("cls", [RunnerSettings, KeyvaultSettings])
def test_provider_base_url_must_be_https(cls: type[BaseServiceSettings], provider: str) -> None:
    settings = prod(
        cls,
        keyvault_master_keys=good_keyring(),
        **{f"runner_{provider.lower()}_base_url": "http://api.example.com"},
    )
    assert f"RUNNER_{provider}_BASE_URL (must be an https:// URL" in refusal(settings)


def test_kafka_without_sasl_is_refused_unless_the_broker_is_on_loopback() -> None:
    remote = WorkspaceSettings(
        flowtrux_env="prod", kafka_bootstrap_servers="kafka-0.kafka:9092,10.0.0.7:9092", **tokens()
    )
    assert "KAFKA_SECURITY_PROTOCOL" in refusal(remote)
    # One host, a broker nobody else can reach: no network trust boundary to guard.
    for local in ("127.0.0.1:9092", "localhost:9092,127.0.0.1:9094", "[::1]:9092"):
        WorkspaceSettings(
            flowtrux_env="prod", kafka_bootstrap_servers=local, **tokens()
        ).check_production()
    mixed = WorkspaceSettings(
        flowtrux_env="prod", kafka_bootstrap_servers="127.0.0.1:9092,kafka:9092", **tokens()
    )
    assert "KAFKA_SECURITY_PROTOCOL" in refusal(mixed)


def test_keyring_entries_must_be_32_random_bytes() -> None:
    passphrase = b"correct-horse-battery-staple-!!!"
    assert len(passphrase) == 32
    text = refusal(
        prod(KeyvaultSettings, keyvault_master_keys=format_keyring([("p1", passphrase)]))
    )
    assert "KEYVAULT_MASTER_KEYS (entry 'p1': printable text" in text
    pattern = bytes(range(8)) * 4
    text = refusal(prod(KeyvaultSettings, keyvault_master_keys=format_keyring([("p2", pattern)])))
    assert "entry 'p2': too few distinct bytes" in text
    compose = format_keyring([("renamed", COMPOSE_DEV_KEK)])
    assert "the docker-compose dev key" in refusal(
        prod(KeyvaultSettings, keyvault_master_keys=compose)
    )
    assert base64.b64encode(passphrase).decode() not in text


def test_the_dev_keyring_under_another_id_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "dev-keyring"
    dev = load_or_create_dev_keyring(file)
    renamed = format_keyring(
        [("prod-2", os.urandom(32)), ("prod-1", dev.material(dev.active_version))]
    )
    settings = prod(KeyvaultSettings, keyvault_master_keys=renamed, keyvault_keyring_file=file)
    assert "KEYVAULT_MASTER_KEYS (entry 'prod-1' is a dev key under another id)" in refusal(
        settings
    )


def test_every_problem_is_named_at_once() -> None:
    settings = GatewaySettings(
        flowtrux_env="prod", service_token_gateway="short", kafka_bootstrap_servers="kafka:9092"
    )
    message = refusal(settings)
    for name in ("SERVICE_TOKEN_GATEWAY", "KAFKA_SECURITY_PROTOCOL", "GATEWAY_OIDC_ISSUER"):
        assert name in message
