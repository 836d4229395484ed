"""keyvault settings (environment variables); built once in app.py and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from keyvault.service.envelope import (
    KeyringError,
    LocalKeyring,
    is_dev_keyring,
    keyring_entry_problem,
    load_or_create_dev_keyring,
    parse_keyring,
)
from shared.contracts import PlanLimits
from shared.plans import DEFAULT_PLAN, parse_plans
from shared.settings import (
    MongoSettings,
    ProductionSettingsError,
    ProviderEndpointSettings,
    dev_token,
)


class KeyvaultSettings(ProviderEndpointSettings, MongoSettings):
    """Port, database, keyring and timing of the keyvault service.

    The only service that holds the keyring. It presents its own token to workspace and
    checks the tokens of its three callers (gateway, workspace, agent-runner).
    """

    SERVICE: ClassVar[str] = "keyvault"
    service_token_keyvault: SecretStr = Field(
        dev_token("keyvault"), description="Presented to workspace."
    )
    service_token_gateway: SecretStr = Field(dev_token("gateway"), description="Checked.")
    service_token_workspace: SecretStr = Field(dev_token("workspace"), description="Checked.")
    service_token_agent_runner: SecretStr = Field(
        dev_token("agent-runner"), description="Checked: the only caller of resolve-batch."
    )

    keyvault_port: int = 8081
    keyvault_host: str = "127.0.0.1"  # 0.0.0.0 in containers
    keyvault_db: str = "flowtrux_keyvault"
    keyvault_master_keys: SecretStr | None = None
    keyvault_keyring_file: Path = Path(".local/keyvault/dev-keyring")
    flowtrux_plans: str | None = None
    keyvault_verify_timeout_s: float = 10.0
    keyvault_outbox_interval_s: float = 5.0
    keyvault_ready_timeout_s: float = 30.0
    keyvault_fence_timeout_s: float = Field(
        0.5,
        gt=0,
        le=10,
        description="How long a resolution waits for the assignments/plans readers to catch "
        "up with the topics' end offsets before answering 503 dependency_unavailable.",
    )
    # How often the coalesced last_used_at of each used key is written.
    keyvault_last_used_interval_s: float = 1.0
    # Retries of a transient store error (busy, failover) before answering 503.
    keyvault_store_retries: int = 5
    # A quota slot whose key never appeared (a crash between slot and insert) is reclaimed
    # by the org's next create once it is this old; longer than any create takes.
    keyvault_slot_grace_s: float = Field(60.0, gt=0)
    # A budget hold whose result never came (runner crash, DLQ) is released after this long;
    # keep it above the longest execution (provider calls, retries and failovers included).
    keyvault_hold_ttl_s: float = Field(1800.0, gt=0)
    # How often expired holds are released and keys expiring within 7 days are alerted.
    keyvault_budget_check_interval_s: float = Field(60.0, gt=0)
    # The consumer group that settles budget holds from agent.execution.result.v1.
    keyvault_spend_group: str = "keyvault-spend"
    # Audit entries older than this are deleted (hourly, and by `python -m keyvault prune`).
    keyvault_audit_retention_days: int = Field(400, ge=1, le=36_500)
    # Settled markers (one per execution whose cost was counted) are what keep a result the
    # runner publishes again from counting twice; the runner publishes one again only while it
    # keeps the result (RUNNER_RESULT_RETENTION_S, 14 days), so a day more is enough. Deleted
    # with the audit entries (hourly, and by `python -m keyvault prune`).
    keyvault_settled_retention_days: int = Field(15, ge=1, le=3650)
    keyvault_prune_interval_s: float = Field(3600.0, gt=0)

    def dev_defaults_in_use(self) -> list[str]:
        found = super().dev_defaults_in_use()
        if self.keyvault_master_keys is None:
            found.append("KEYVAULT_MASTER_KEYS")
        return found

    def production_problems(self) -> list[str]:
        """Besides the shared checks: the keyring is set, random, and not a dev keyring."""
        problems = super().production_problems()
        if self.keyvault_master_keys is None:
            return problems  # already named by dev_defaults_in_use
        try:
            keyring = parse_keyring(self.keyvault_master_keys.get_secret_value())
        except KeyringError as err:
            return [*problems, f"KEYVAULT_MASTER_KEYS ({err})"]
        if is_dev_keyring(keyring):
            problems.append("KEYVAULT_MASTER_KEYS (a dev keyring: version ids starting 'dev-')")
        dev_keys = self._dev_key_material()
        for version in keyring.versions():
            material = keyring.material(version)
            problem = keyring_entry_problem(material)
            if problem:
                problems.append(f"KEYVAULT_MASTER_KEYS (entry {version!r}: {problem})")
            elif material in dev_keys:
                problems.append(
                    f"KEYVAULT_MASTER_KEYS (entry {version!r} is a dev key under another id)"
                )
        return problems

    def _dev_key_material(self) -> set[bytes]:
        """The dev keyring's keys, when this machine has one (never created here)."""
        if not self.keyvault_keyring_file.exists():
            return set()
        try:
            dev = parse_keyring(self.keyvault_keyring_file.read_text().strip())
        except (OSError, KeyringError):
            return set()
        return {dev.material(v) for v in dev.versions()}

    def check_production(self) -> None:
        """Refuse prod with dev secrets, a missing, weak or dev keyring (see the problems)."""
        super().check_production()
        if self.flowtrux_env == "prod" and self.keyvault_master_keys is None:
            raise ProductionSettingsError("FLOWTRUX_ENV=prod requires KEYVAULT_MASTER_KEYS")

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
