"""The whole stack running as `make dev` runs it (deploy/local/stack.py), on its own ports,
topics and databases, with the provider simulator standing in for the providers.
Every response body the e2e client receives is kept for the canary scan that runs last.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.e2e import E2E, ENV_CANARIES, JWT_SECRET, PORTS, ROOT, load_stack_module
from tests.support.otelcol import Collector


@pytest.fixture(scope="session")
def e2e(kafka_bootstrap: str, mongo_url: str) -> Iterator[E2E]:
    stack_module = load_stack_module()
    run = secrets.token_hex(3)
    suffix = f".e2e{run}"
    databases = [f"e2e_{run}_keyvault", f"e2e_{run}_workspace", f"e2e_{run}_runner"]
    # Every service exports its spans to a real collector (the canary scan reads them too).
    collector = Collector(
        PORTS["otel-collector"], ROOT / ".local" / "logs" / f"e2e-{run}-spans.jsonl"
    )
    collector.start()
    env = {
        **os.environ,
        **ENV_CANARIES,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "MONGODB_URL": mongo_url,
        "KAFKA_TOPIC_SUFFIX": suffix,
        # Consumer groups of its own too: another deployment on the same broker (a dev stack,
        # a benchmark) in the same group would make both rebalance each time either starts.
        "RUNNER_GROUP_ID": f"agent-runner{suffix}",
        "KEYVAULT_SPEND_GROUP": f"keyvault-spend{suffix}",
        "KEYVAULT_DB": databases[0],
        "WORKSPACE_DB": databases[1],
        "RUNNER_DB": databases[2],
        "GATEWAY_JWT_SECRET": JWT_SECRET,
        "KEYVAULT_KEYRING_FILE": str(ROOT / ".local" / "keyvault" / f"e2e-{run}-keyring"),
        "LOG_LEVEL": "DEBUG",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    stack = stack_module.Stack(env=env, prefix="e2e-", with_simulator=True, ports=dict(PORTS))
    try:
        stack.start(timeout=120)
    except Exception:
        stack.stop()
        collector.stop()
        raise
    try:
        yield E2E(
            gateway=f"http://127.0.0.1:{PORTS['gateway']}",
            simulator=f"http://127.0.0.1:{PORTS['provider-sim']}",
            bootstrap=kafka_bootstrap,
            mongo_url=mongo_url,
            suffix=suffix,
            databases=databases,
            log_prefix="e2e-",
            service_env=stack.service_env(),
            collector=collector,
        )
    finally:
        stack.stop()
        collector.stop()


@pytest.fixture
async def owner(e2e: E2E, unique: str) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    org = f"org-{unique}"
    async with e2e.client(org, "OWNER") as client:
        yield org, client


@pytest.fixture(scope="session", autouse=True)
async def _close_e2e_producer(e2e: E2E) -> AsyncIterator[None]:
    yield
    await e2e.close()
