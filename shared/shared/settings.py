"""Settings every service shares (environment variables, see README); services subclass it.

Settings objects are built once in each service's `app.py` and passed down: nothing else
reads the environment. Provider API keys are never settings: no code reads
ANTHROPIC_API_KEY, OPENAI_API_KEY, GOOGLE_API_KEY or GEMINI_API_KEY.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.topics import Topics

DEV_SERVICE_TOKENS: dict[str, str] = {
    "gateway": "dev-only-gateway-service-token",
    "keyvault": "dev-only-keyvault-service-token",
    "workspace": "dev-only-workspace-service-token",
    "agent-runner": "dev-only-agent-runner-service-token",
}


class ProductionSettingsError(ValueError):
    """A dev default secret was left in place with FLOWTRUX_ENV=prod."""


class BaseServiceSettings(BaseSettings):
    """Connection, environment and service-credential settings of every service."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    flowtrux_env: Literal["dev", "prod"] = "dev"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    kafka_topic_suffix: str = Field(
        "", description="Appended to every topic name; for isolated tests only."
    )
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    keyvault_url: str = "http://127.0.0.1:8081"
    workspace_url: str = "http://127.0.0.1:8082"
    internal_http_timeout_s: float = 5.0

    service_token_gateway: SecretStr = SecretStr(DEV_SERVICE_TOKENS["gateway"])
    service_token_keyvault: SecretStr = SecretStr(DEV_SERVICE_TOKENS["keyvault"])
    service_token_workspace: SecretStr = SecretStr(DEV_SERVICE_TOKENS["workspace"])
    service_token_agent_runner: SecretStr = SecretStr(DEV_SERVICE_TOKENS["agent-runner"])

    @property
    def topics(self) -> Topics:
        return Topics(self.kafka_topic_suffix)

    def service_tokens(self) -> dict[str, SecretStr]:
        """Service name -> the credential it presents on internal HTTP calls."""
        return {
            "gateway": self.service_token_gateway,
            "keyvault": self.service_token_keyvault,
            "workspace": self.service_token_workspace,
            "agent-runner": self.service_token_agent_runner,
        }

    def dev_defaults_in_use(self) -> list[str]:
        """Names of settings still at a dev default secret; subclasses add their own."""
        return [
            f"SERVICE_TOKEN_{name.upper().replace('-', '_')}"
            for name, token in self.service_tokens().items()
            if token.get_secret_value() == DEV_SERVICE_TOKENS[name]
        ]

    def check_production(self) -> None:
        """Refuse to start in prod with any dev default secret."""
        if self.flowtrux_env == "prod":
            offending = self.dev_defaults_in_use()
            if offending:
                raise ProductionSettingsError(
                    "FLOWTRUX_ENV=prod refuses dev default secrets; set "
                    + ", ".join(sorted(offending))
                )


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
