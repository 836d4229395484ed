from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from tests.gateway.support import Stack, stack


@pytest.fixture(scope="module")
async def live(kafka_bootstrap: str, mongo_url: str) -> AsyncIterator[Stack]:
    """One real stack (keyvault, workspace, two gateway replicas) for the module's tests."""
    tag = secrets.token_hex(4)
    async with stack(
        bootstrap=kafka_bootstrap,
        mongo_url=mongo_url,
        suffix=f".t{tag}",
        db_prefix=f"test_gw_{tag}",
        replicas=2,
    ) as running:
        yield running


@pytest.fixture
def org(unique: str) -> str:
    return f"org-{unique}"
