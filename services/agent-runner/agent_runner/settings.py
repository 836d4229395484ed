"""Settings of agent-runner (environment variables; see CONTRACT.md and INTERNAL_API.md)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import MongoSettings, ProviderEndpointSettings, dev_token


class RunnerSettings(ProviderEndpointSettings, MongoSettings):
    """Everything the runner reads from the environment; built once and passed down.

    The runner parses untrusted provider JSON, so it holds only its own service token.
    """

    SERVICE: ClassVar[str] = "agent-runner"
    service_token_agent_runner: SecretStr = Field(
        dev_token("agent-runner"), description="Presented to keyvault's resolve-batch."
    )

    runner_concurrency: int = Field(256, ge=1, le=10_000, description="Executions in flight.")
    runner_health_port: int = Field(8083, description="Health/metrics port; next free if taken.")
    runner_health_host: str = "127.0.0.1"
    runner_db: str = "flowtrux_agent_runner"
    runner_group_id: str = "agent-runner"
    model_prices_file: Path | None = None

    # Provider calls.
    runner_provider_timeout_s: float = Field(120.0, gt=0)
    runner_provider_connect_timeout_s: float = Field(5.0, gt=0)
    runner_max_connections: int = Field(1024, ge=1)
    runner_unavailable_retries: int = Field(2, ge=0, description="Retries after a 5xx/timeout.")
    runner_backoff_base_s: float = Field(0.2, ge=0)
    runner_backoff_max_s: float = Field(2.0, ge=0)
    runner_rate_limit_max_wait_s: float = Field(
        10.0, ge=0, description="Cap on the total time spent honouring Retry-After per execution."
    )
    runner_rate_limit_default_wait_s: float = Field(1.0, ge=0)
    runner_max_key_failovers: int = Field(10, ge=0)

    runner_max_result_bytes: int = Field(
        1_000_000,
        ge=10_000,
        le=1_048_000,
        description="Largest result (JSON bytes); a longer output is truncated with a marker. "
        "Stays below the producer's max_request_size (aiokafka default 1,048,576 bytes).",
    )

    # Infrastructure errors (dedupe store, result publishing) of one request.
    runner_infra_retries: int = Field(
        8, ge=0, le=100, description="Retries after an infrastructure error before the DLQ."
    )
    runner_infra_backoff_base_s: float = Field(0.5, ge=0)
    runner_infra_backoff_max_s: float = Field(30.0, ge=0)

    # Claims: owner and lease (issue 12, fix 3).
    runner_instance_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        min_length=1,
        max_length=200,
        description="Owner written on this runner's claims; unique per process.",
    )
    runner_claim_lease_s: float = Field(
        30.0,
        ge=3,
        le=3600,
        description="Lease of a claim, renewed every third of it while the execution runs; "
        "another runner takes an execution over only after its lease expired.",
    )
    runner_claim_poll_s: float = Field(
        0.5, gt=0, le=60, description="How often a runner waiting for another's lease looks."
    )

    # keyvault calls.
    runner_keyvault_retries: int = Field(3, ge=0)
    runner_keyvault_batches_in_flight: int = Field(
        4, ge=1, le=64, description="Concurrent /resolve-batch calls to keyvault."
    )
    runner_key_wait_s: float = Field(
        120.0,
        ge=0,
        le=86_400,
        description="While keyvault cannot answer (down, 5xx, not ready), an execution waits "
        "this long after it was picked up before failing with key_unavailable; also the "
        "least time before an infrastructure error sends a request to the DLQ.",
    )
    runner_key_wait_backoff_max_s: float = Field(
        5.0, gt=0, le=300, description="Cap on the pause between key requests while waiting."
    )

    # Pruning the dedupe records (FerretDB has no TTL indexes). A result is what stops a
    # redelivered request from calling the provider again, so keep it well beyond any
    # redelivery: requests live 7 days on their topic (Kafka's default retention).
    runner_result_retention_s: float = Field(
        14 * 86_400, ge=86_400, description="Age after which stored results and claims go."
    )
    runner_prune_interval_s: float = Field(3600.0, gt=0)

    # Shutdown and commits.
    runner_shutdown_grace_s: float = Field(20.0, ge=0, le=28)
    runner_commit_interval_s: float = Field(0.2, gt=0)
    runner_revoke_wait_s: float = Field(
        10.0, ge=0, description="How long a rebalance waits for revoked partitions' work."
    )
