"""docker-compose.yml has the structure the README promises (no Docker engine runs here)."""

from __future__ import annotations

import base64
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = {
    "keyvault": "keyvault",
    "workspace": "workspace",
    "agent-runner": "agent_runner",
    "gateway": "gateway",
}


def _settings_env_names(package: str) -> set[str]:
    module = importlib.import_module(f"{package}.settings")
    names: set[str] = set()
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, BaseSettings) and cls.__module__ == module.__name__:
            prefix = cls.model_config.get("env_prefix", "") or ""
            for field_name, info in cls.model_fields.items():
                names.add((info.alias or f"{prefix}{field_name}").upper())
    return names


def test_infrastructure_images_and_healthchecks() -> None:
    services = COMPOSE["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["mongodb"]["image"] == "mongo:7"
    for name in ("kafka", "mongodb", *SERVICES):
        assert "test" in services[name]["healthcheck"], name


@pytest.mark.parametrize("name", list(SERVICES))
def test_service_built_from_one_dockerfile_with_healthy_dependencies(name: str) -> None:
    service = COMPOSE["services"][name]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert service["command"] == ["python", "-m", SERVICES[name]]
    for dependency, condition in service["depends_on"].items():
        assert condition["condition"] == "service_healthy", dependency
    assert {"kafka"} <= set(service["depends_on"])
    assert (ROOT / "deploy/Dockerfile").is_file()


@pytest.mark.parametrize("name", list(SERVICES))
def test_environment_names_match_settings_classes(name: str) -> None:
    env = COMPOSE["services"][name]["environment"]
    known = _settings_env_names(SERVICES[name])
    unknown = sorted(set(env) - known)
    assert unknown == [], f"{name}: compose sets variables no settings class reads: {unknown}"


def test_ports_follow_the_contract_and_runner_scales() -> None:
    services = COMPOSE["services"]
    assert services["gateway"]["ports"] == ["127.0.0.1:8080:8080"]
    assert services["keyvault"]["ports"] == ["127.0.0.1:8081:8081"]
    assert services["workspace"]["ports"] == ["127.0.0.1:8082:8082"]
    assert "ports" not in services["agent-runner"], "a fixed host port prevents --scale"
    assert services["kafka"]["ports"] == ["127.0.0.1:9092:9092"]
    assert services["mongodb"]["ports"] == ["127.0.0.1:27017:27017"]


def test_secrets_are_marked_dev_defaults() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "DEV DEFAULT" in text
    for name in SERVICES:
        env = COMPOSE["services"][name]["environment"]
        assert env["FLOWTRUX_ENV"] == "dev"
        for key, value in env.items():
            if "TOKEN" in key or "SECRET" in key or "MASTER_KEYS" in key:
                assert str(value).startswith("dev-"), key
    for forbidden in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        assert forbidden not in text


def test_the_image_builds_the_ui_in_a_stage_of_its_own() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert stages[0].endswith(" AS web"), stages
    assert "RUN npm ci" in dockerfile
    assert "RUN npm run build" in dockerfile
    # Only the built files reach the final image, where GATEWAY_WEB_DIR's default finds them.
    assert "COPY --from=web /web/dist ./services/web/dist" in dockerfile
    assert GatewaySettings().gateway_web_dir == "services/web/dist"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"services/web/node_modules", "services/web/dist"} <= set(ignored)


def test_kafka_and_mongodb_keep_their_data_in_named_volumes() -> None:
    """`docker compose down` (without -v) keeps the state topics and the stores."""
    services = COMPOSE["services"]
    kafka = services["kafka"]
    log_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert f"kafka-data:{log_dir}" in kafka["volumes"]
    # A fixed cluster id: the broker restarts on the formatted volume instead of refusing it.
    cluster_id = kafka["environment"]["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16  # a UUID, as KRaft wants
    assert "mongodb-data:/data/db" in services["mongodb"]["volumes"]
    assert {"kafka-data", "mongodb-data"} <= set(COMPOSE["volumes"])


def test_the_simulator_is_an_optional_profile_the_runner_can_use() -> None:
    services = COMPOSE["services"]
    sim = services["simulator"]
    assert sim["profiles"] == ["sim"]
    assert sim["command"] == ["python", "-m", "deploy.local.simulator"]
    assert sim["environment"]["SIM_HOST"] == "0.0.0.0"  # noqa: S104 - the container listens for the runner
    for name, service in services.items():
        if name != "simulator":
            assert "profiles" not in service, name  # everything else starts by default
    runner = services["agent-runner"]["environment"]
    sim_env = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy/compose.sim.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert sim_env["COMPOSE_PROFILES"] == "sim"
    for provider in ("ANTHROPIC", "OPENAI", "GOOGLE"):
        variable = f"RUNNER_{provider}_BASE_URL"
        assert runner[variable].startswith(f"${{{variable}:-https://"), runner[variable]
        assert sim_env[variable] == "http://simulator:8090"
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "COPY deploy/local/simulator ./deploy/local/simulator" in dockerfile


def test_how_to_get_a_token_is_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    command = "docker compose exec gateway python -m gateway token --org org-dev --role OWNER"
    assert command in text
    assert command in (ROOT / "README.md").read_text()
