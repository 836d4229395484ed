"""Settings every service shares (environment variables, see README); services subclass it.

Settings objects are built once in each service's `app.py` and passed down: nothing else
reads the environment. Provider API keys are never settings: no code reads
ANTHROPIC_API_KEY, OPENAI_API_KEY, GOOGLE_API_KEY or GEMINI_API_KEY.

Least privilege: the base class holds no secret. Each service's settings class declares only
the service tokens it presents or checks (`SERVICE_TOKEN_<NAME>`), so a token a service does
not use is never read from its environment; the keyring exists only in keyvault's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.topics import Topics

DEV_SERVICE_TOKENS: dict[str, str] = {
    "gateway": "dev-only-gateway-service-token",
    "keyvault": "dev-only-keyvault-service-token",
    "workspace": "dev-only-workspace-service-token",
    "agent-runner": "dev-only-agent-runner-service-token",
}
MIN_SECRET_BYTES = 32
"""Shortest service token (and HS256 secret) accepted with FLOWTRUX_ENV=prod."""


def token_setting(service: str) -> str:
    """`agent-runner` -> `SERVICE_TOKEN_AGENT_RUNNER`."""
    return f"SERVICE_TOKEN_{service.upper().replace('-', '_')}"


def _token_field(service: str) -> str:
    return token_setting(service).lower()


def dev_token(service: str) -> SecretStr:
    """The documented dev default of a service token (refused with FLOWTRUX_ENV=prod)."""
    return SecretStr(DEV_SERVICE_TOKENS[service])


class ProductionSettingsError(ValueError):
    """A setting is unsafe with FLOWTRUX_ENV=prod; the message names the setting."""


SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class KafkaSettings(BaseSettings):
    """How every Kafka client of the project connects (CONTRACT § Kafka in production)."""

    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_suffix: str = Field(
        "", description="Appended to every topic name; for isolated tests only."
    )
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle for SSL/SASL_SSL; the system's trust store when unset."
    )
    kafka_replication_factor: int = Field(1, ge=1, le=32)
    kafka_min_insync_replicas: int = Field(1, ge=1, le=32)

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise ValueError("KAFKA_MIN_INSYNC_REPLICAS exceeds KAFKA_REPLICATION_FACTOR")
        return self

    @property
    def topics(self) -> Topics:
        return Topics(self.kafka_topic_suffix)

    def kafka_on_loopback(self) -> bool:
        """Every bootstrap server is on this host's loopback (nobody else can reach it)."""
        hosts = [
            server.strip().rsplit(":", 1)[0].strip("[]")
            for server in self.kafka_bootstrap_servers.split(",")
            if server.strip()
        ]
        return bool(hosts) and all(h in LOOPBACK_HOSTS for h in hosts)

    def kafka_production_problems(self) -> list[str]:
        """Why this Kafka connection is not fit for prod (empty when it is). A broker on
        loopback only (a single-host install, a test) is no network trust boundary."""
        if not self.kafka_security_protocol.startswith("SASL_") and not self.kafka_on_loopback():
            return [
                "KAFKA_SECURITY_PROTOCOL (every service is its own authenticated principal: "
                "SASL_SSL or SASL_PLAINTEXT)"
            ]
        return []


class BaseServiceSettings(KafkaSettings):
    """Connection and environment settings of every service; no secrets (see the module)."""

    SERVICE: ClassVar[str] = ""
    """The service whose credential this process presents on internal calls ("" for none)."""

    flowtrux_env: Literal["dev", "prod"] = "dev"
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    keyvault_url: str = "http://127.0.0.1:8081"
    workspace_url: str = "http://127.0.0.1:8082"
    internal_http_timeout_s: float = 5.0

    def service_tokens(self) -> dict[str, SecretStr]:
        """Service name -> credential, for the service tokens this class declares only."""
        found: dict[str, SecretStr] = {}
        for name in DEV_SERVICE_TOKENS:
            value = getattr(self, _token_field(name), None)
            if isinstance(value, SecretStr):
                found[name] = value
        return found

    def dev_defaults_in_use(self) -> list[str]:
        """Names of settings still at a dev default secret; subclasses add their own."""
        return [
            token_setting(name)
            for name, token in self.service_tokens().items()
            if token.get_secret_value() == DEV_SERVICE_TOKENS[name]
        ]

    def production_problems(self) -> list[str]:
        """Settings unfit for prod, each named with why; subclasses add their own."""
        problems = [f"{name} (a dev default)" for name in self.dev_defaults_in_use()]
        tokens = self.service_tokens()
        for name, token in tokens.items():
            if len(token.get_secret_value().encode()) < MIN_SECRET_BYTES:
                problems.append(f"{token_setting(name)} (shorter than {MIN_SECRET_BYTES} bytes)")
        seen: dict[str, str] = {}
        for name, token in tokens.items():
            other = seen.setdefault(token.get_secret_value(), name)
            if other != name:
                problems.append(
                    f"{token_setting(name)} (the same value as {token_setting(other)}; "
                    "every service token must be distinct)"
                )
        problems += self.kafka_production_problems()
        return problems

    def check_production(self) -> None:
        """Refuse to start in prod with any unsafe setting, naming each one."""
        if self.flowtrux_env == "prod":
            problems = self.production_problems()
            if problems:
                raise ProductionSettingsError(
                    "FLOWTRUX_ENV=prod refuses these settings: " + "; ".join(problems)
                )


class MongoSettings(BaseSettings):
    """The service's own MongoDB (in prod a URL with the service's own user and password)."""

    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    mongodb_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017")


class ProviderEndpointSettings(BaseServiceSettings):
    """Provider base URLs (from settings only, never from an event or a request)."""

    runner_anthropic_base_url: str = "https://api.anthropic.com"
    runner_openai_base_url: str = "https://api.openai.com"
    runner_google_base_url: str = "https://generativelanguage.googleapis.com"

    def provider_base_url(self, provider: str) -> str:
        return {
            "anthropic": self.runner_anthropic_base_url,
            "openai": self.runner_openai_base_url,
            "google": self.runner_google_base_url,
        }[provider].rstrip("/")

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        for provider in ("anthropic", "openai", "google"):
            url = urlsplit(self.provider_base_url(provider))
            if url.scheme != "https" or not url.hostname:
                problems.append(
                    f"RUNNER_{provider.upper()}_BASE_URL (must be an https:// URL; "
                    "a provider key never travels in clear)"
                )
        return problems
