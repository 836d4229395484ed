from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from tests.gateway.fakes import InMemoryExecutionBus
from tests.gateway.support import FakeUpstreams, asgi_client, gateway_settings


@pytest.fixture
def upstreams() -> FakeUpstreams:
    return FakeUpstreams()


@pytest.fixture
def bus() -> InMemoryExecutionBus:
    return InMemoryExecutionBus()


@pytest.fixture
async def client(
    upstreams: FakeUpstreams, bus: InMemoryExecutionBus
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway_settings(), bus=bus, transport=upstreams.transport())
    async with asgi_client(app) as c:
        yield c
