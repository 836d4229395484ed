"""Gateway settings (environment variables of CONTRACT.md)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from shared.plans import parse_plans
from shared.settings import (
    MIN_SECRET_BYTES,
    BaseServiceSettings,
    ProductionSettingsError,
    dev_token,
)

DEV_JWT_SECRET = "dev-only-gateway-jwt-secret-change-me"  # noqa: S105
"""The documented dev value of GATEWAY_JWT_SECRET (dev tokens exist only in `dev`: in
`prod` the gateway accepts only the OIDC provider's tokens and never reads it)."""


class GatewaySettings(BaseServiceSettings):
    """Settings of the public gateway: its own service token and the user-token secret only."""

    SERVICE: ClassVar[str] = "gateway"
    service_token_gateway: SecretStr = Field(
        dev_token("gateway"), description="Presented to keyvault and workspace."
    )

    gateway_port: int = Field(8080, description="Port the gateway listens on (loopback).")
    gateway_host: str = "127.0.0.1"  # 0.0.0.0 in containers
    gateway_jwt_secret: SecretStr = Field(
        SecretStr(DEV_JWT_SECRET), description="HS256 secret of dev user tokens (unused in prod)."
    )

    @field_validator("gateway_jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        # HS256 is only as strong as its secret (RFC 7518 §3.2: at least the hash size).
        if len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"GATEWAY_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return value

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

    gateway_fence_timeout_s: float = Field(
        2.0,
        gt=0,
        le=30,
        description="How long `GET /workspaces/{id}/models` waits for the read model of the "
        "state topics to apply every write made before the request; then 503.",
    )
    gateway_key_list_ttl_s: float = Field(
        1.0,
        ge=0,
        le=60,
        description="How long `GET /ai-providers` reuses an org's key list while no change to "
        "its keys has been seen on keyvault.keys.v1 (only last_used_at and spent_usd_month "
        "can be this old); 0 = ask keyvault every time.",
    )

    gateway_web_dir: str = Field(
        "services/web/dist",
        description="The built UI (relative to the working directory, or absolute).",
    )
    gateway_dev_token_ttl_s: int = Field(
        12 * 3600, ge=60, description="Lifetime of tokens from the dev sign-in (dev only)."
    )

    # --- production identity: the organization's OIDC provider (CONTRACT.md) -------------
    gateway_oidc_issuer: str = Field(
        "",
        description="OIDC issuer URL (discovery at <issuer>/.well-known/openid-configuration); "
        "required in prod, where only its tokens are accepted.",
    )
    gateway_oidc_audience: str = Field(
        "", description="The `aud` tokens must carry; empty = GATEWAY_OIDC_CLIENT_ID."
    )
    gateway_oidc_client_id: str = Field(
        "", description="The UI's public client (Authorization Code + PKCE)."
    )
    gateway_oidc_scopes: str = Field(
        "openid profile email", description="Scopes the UI asks for (space-separated)."
    )
    gateway_oidc_org_claim: str = Field("org_id", description="Claim naming the organization.")
    gateway_oidc_role_claim: str = Field("role", description="Claim naming the role.")
    gateway_oidc_org_prefix: str = Field(
        "", description="Only entries with this prefix count (e.g. `org:` in `groups`)."
    )
    gateway_oidc_role_prefix: str = Field(
        "", description="Only entries with this prefix count (e.g. `role:` in `groups`)."
    )
    gateway_oidc_leeway_s: int = Field(
        30, ge=0, le=300, description="Clock skew allowed on `exp`/`nbf`/`iat`."
    )
    gateway_oidc_jwks_min_refresh_s: float = Field(
        30.0, ge=0, description="An unknown `kid` refreshes the keys at most this often."
    )
    gateway_oidc_jwks_max_age_s: float = Field(
        3600.0, gt=0, description="Cached keys are refreshed after this long."
    )

    def oidc_enabled(self) -> bool:
        return bool(self.gateway_oidc_issuer)

    def oidc_audience(self) -> str:
        return self.gateway_oidc_audience or self.gateway_oidc_client_id

    def oidc_scopes(self) -> list[str]:
        return self.gateway_oidc_scopes.split()

    def oidc_origin(self) -> str | None:
        """The issuer's origin: the UI's browser posts to its token endpoint (CSP)."""
        if not self.oidc_enabled():
            return None
        parts = urlsplit(self.gateway_oidc_issuer)
        return f"{parts.scheme}://{parts.netloc}"

    def production_problems(self) -> list[str]:
        return [*super().production_problems(), *self.oidc_problems()]

    def check_production(self) -> None:
        """In prod every problem at once (base checks and OIDC); in dev a misconfigured OIDC
        provider (an issuer without a client id, say) is refused as well."""
        super().check_production()
        problems = self.oidc_problems()
        if problems:
            raise ProductionSettingsError("; ".join(problems))

    def oidc_problems(self) -> list[str]:
        """What keeps the OIDC settings from working (each names its setting)."""
        problems: list[str] = []
        prod = self.flowtrux_env == "prod"
        if prod and not self.oidc_enabled():
            problems.append(
                "FLOWTRUX_ENV=prod accepts only the OIDC provider's tokens: set GATEWAY_OIDC_ISSUER"
            )
        if not self.oidc_enabled():
            return problems
        parts = urlsplit(self.gateway_oidc_issuer)
        loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if parts.scheme not in ("https", "http") or not parts.netloc:
            problems.append("GATEWAY_OIDC_ISSUER must be an https:// URL")
        elif prod and parts.scheme != "https" and not loopback:
            problems.append("GATEWAY_OIDC_ISSUER must be an https:// URL in prod")
        if not self.gateway_oidc_client_id:
            problems.append("GATEWAY_OIDC_CLIENT_ID is needed with GATEWAY_OIDC_ISSUER")
        if not self.gateway_oidc_org_claim or not self.gateway_oidc_role_claim:
            problems.append("GATEWAY_OIDC_ORG_CLAIM and GATEWAY_OIDC_ROLE_CLAIM must not be empty")
        if "openid" not in self.oidc_scopes():
            problems.append("GATEWAY_OIDC_SCOPES must include openid")
        return problems

    def web_dir(self) -> Path:
        return Path(self.gateway_web_dir)

    def dev_sign_in_enabled(self) -> bool:
        """The dev sign-in exists only in `dev`; in `prod` its route answers 404."""
        return self.flowtrux_env == "dev"

    def plan_names(self) -> list[str]:
        return list(parse_plans(self.flowtrux_plans))

    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.gateway_cors_origins.split(",") if o.strip()]
