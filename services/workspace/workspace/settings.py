"""Settings of the workspace service (environment variables; see docs/INTERNAL_API.md)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import BaseServiceSettings, MongoSettings, dev_token

LEDGER_GROUP = "workspace-ledger"


class WorkspaceSettings(BaseServiceSettings, MongoSettings):
    """Port, database, plan table, price table and ledger retention of the workspace service."""

    SERVICE: ClassVar[str] = "workspace"
    service_token_workspace: SecretStr = Field(
        dev_token("workspace"), description="Presented to keyvault."
    )
    service_token_gateway: SecretStr = Field(
        dev_token("gateway"), description="Checked: the gateway calls workspace."
    )
    service_token_keyvault: SecretStr = Field(
        dev_token("keyvault"), description="Checked: keyvault confirms assignments."
    )

    workspace_port: int = Field(8082, ge=1, le=65535)
    workspace_host: str = "127.0.0.1"  # 0.0.0.0 in containers
    workspace_db: str = "flowtrux_workspace"
    flowtrux_plans: str | None = Field(
        None, description="Plan table as JSON ({name: {provider_keys, workspaces}})."
    )
    model_prices_file: Path | None = Field(None, description="Price table JSON override.")
    ledger_output_retention_days: int = Field(7, ge=0, le=3650)
    ledger_prune_interval_s: float = Field(3600.0, gt=0)
    republish_interval_s: float = Field(5.0, gt=0)
    # A quota slot whose workspace never appeared (a crash between slot and insert) is
    # reclaimed by the org's next create once it is this old.
    workspace_slot_grace_s: float = Field(60.0, gt=0)
    # Test runs (POST /workspaces/{id}/executions): a per-org fixed window, shared by every
    # gateway replica (counted in this service's database); 0 turns the limit off.
    test_run_rate_limit: int = Field(
        120, ge=0, description="Test runs an organization may start per window (0 = no limit)."
    )
    test_run_rate_window_s: int = Field(60, ge=1, le=86400, description="Rate window (s).")
    idempotency_ttl_h: float = Field(
        24.0, gt=0, le=24 * 30, description="How long an Idempotency-Key binds its request."
    )

    @property
    def ledger_group(self) -> str:
        # Isolated test deployments (a topic suffix) get their own group as well.
        return f"{LEDGER_GROUP}{self.kafka_topic_suffix}"
