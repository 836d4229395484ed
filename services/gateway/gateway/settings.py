"""Gateway settings (environment variables of CONTRACT.md)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from shared.plans import parse_plans
from shared.settings import MIN_SECRET_BYTES, BaseServiceSettings, dev_token

DEV_JWT_SECRET = "dev-only-gateway-jwt-secret-change-me"  # noqa: S105
"""The documented dev value of GATEWAY_JWT_SECRET; refused with FLOWTRUX_ENV=prod."""


class GatewaySettings(BaseServiceSettings):
    """Settings of the public gateway: its own service token and the user-token secret only."""

    SERVICE: ClassVar[str] = "gateway"
    service_token_gateway: SecretStr = Field(
        dev_token("gateway"), description="Presented to keyvault and workspace."
    )

    gateway_port: int = Field(8080, description="Port the gateway listens on (loopback).")
    gateway_host: str = "127.0.0.1"  # 0.0.0.0 in containers
    gateway_jwt_secret: SecretStr = Field(
        SecretStr(DEV_JWT_SECRET), description="HS256 secret of user tokens."
    )
    gateway_cors_origins: str = Field(
        "", description="Comma-separated UI origins allowed by CORS; none by default."
    )
    gateway_max_body_bytes: int = Field(65536, ge=1024, description="Largest request body.")
    flowtrux_plans: str | None = Field(
        None, description="Plan table JSON (as workspace reads it); names the plans in OpenAPI."
    )
    gateway_kafka_timeout_s: float = Field(
        5.0, gt=0, description="How long a publish to Kafka may take before 503."
    )

    gateway_web_dir: str = Field(
        "services/web/dist",
        description="The built UI (relative to the working directory, or absolute).",
    )
    gateway_dev_token_ttl_s: int = Field(
        12 * 3600, ge=60, description="Lifetime of tokens from the dev sign-in (dev only)."
    )

    def web_dir(self) -> Path:
        return Path(self.gateway_web_dir)

    def dev_sign_in_enabled(self) -> bool:
        """The dev sign-in exists only in `dev`; in `prod` its route answers 404."""
        return self.flowtrux_env == "dev"

    def plan_names(self) -> list[str]:
        return list(parse_plans(self.flowtrux_plans))

    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.gateway_cors_origins.split(",") if o.strip()]

    def dev_defaults_in_use(self) -> list[str]:
        found = super().dev_defaults_in_use()
        if self.gateway_jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            found.append("GATEWAY_JWT_SECRET")
        return found

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if len(self.gateway_jwt_secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            problems.append(f"GATEWAY_JWT_SECRET (shorter than {MIN_SECRET_BYTES} bytes)")
        return problems
