"""keyvault settings (environment variables); built once in app.py and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from keyvault.service.envelope import (
    LocalKeyring,
    is_dev_keyring,
    load_or_create_dev_keyring,
    parse_keyring,
)
from shared.contracts import PlanLimits
from shared.plans import DEFAULT_PLAN, parse_plans
from shared.settings import ProductionSettingsError, ProviderEndpointSettings


class KeyvaultSettings(ProviderEndpointSettings):
    """Port, database, keyring and timing of the keyvault service."""

    keyvault_port: int = 8081
    keyvault_host: str = "127.0.0.1"  # 0.0.0.0 in containers
    keyvault_db: str = "flowtrux_keyvault"
    keyvault_master_keys: SecretStr | None = None
    keyvault_keyring_file: Path = Path(".local/keyvault/dev-keyring")
    flowtrux_plans: str | None = None
    keyvault_verify_timeout_s: float = 10.0
    keyvault_outbox_interval_s: float = 5.0
    keyvault_ready_timeout_s: float = 30.0
    # How often the coalesced last_used_at of each used key is written.
    keyvault_last_used_interval_s: float = 1.0
    # Retries of a transient store error (busy, failover) before answering 503.
    keyvault_store_retries: int = 5
    # A quota slot whose key never appeared (a crash between slot and insert) is reclaimed
    # by the org's next create once it is this old; longer than any create takes.
    keyvault_slot_grace_s: float = Field(60.0, gt=0)
    # Audit entries older than this are deleted (hourly, and by `python -m keyvault prune`).
    keyvault_audit_retention_days: int = Field(400, ge=1, le=36_500)
    keyvault_prune_interval_s: float = Field(3600.0, gt=0)

    def dev_defaults_in_use(self) -> list[str]:
        found = super().dev_defaults_in_use()
        if self.keyvault_master_keys is None:
            found.append("KEYVAULT_MASTER_KEYS")
        return found

    def check_production(self) -> None:
        """Refuse prod with dev secrets, a missing keyring or a dev (`dev-`) keyring."""
        super().check_production()
        if self.flowtrux_env == "prod":
            keyring = self.keyring()
            if is_dev_keyring(keyring):
                raise ProductionSettingsError(
                    "FLOWTRUX_ENV=prod refuses a dev keyring (version ids starting 'dev-'); "
                    "set KEYVAULT_MASTER_KEYS to production keys"
                )

    def keyring(self) -> LocalKeyring:
        """The configured keyring; in dev, the generated one under .local/ when none is set."""
        if self.keyvault_master_keys is not None:
            return parse_keyring(self.keyvault_master_keys.get_secret_value())
        if self.flowtrux_env == "prod":
            raise ProductionSettingsError("FLOWTRUX_ENV=prod requires KEYVAULT_MASTER_KEYS")
        return load_or_create_dev_keyring(self.keyvault_keyring_file)

    def default_plan_limit(self) -> int | None:
        plans: dict[str, PlanLimits] = parse_plans(self.flowtrux_plans)
        return plans[DEFAULT_PLAN].provider_keys
