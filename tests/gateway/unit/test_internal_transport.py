"""The gateway's calls to keyvault and workspace go over aiohttp's pool (shared.http), not
httpx's: httpx's pool cost the gateway ≈ 5 ms of CPU per call at 100 clients."""

from __future__ import annotations

from gateway.app import create_app
from gateway.service import Gateway
from shared.http import AiohttpTransport
from tests.gateway.fakes import InMemoryExecutionBus
from tests.gateway.support import gateway_settings


async def test_internal_clients_use_the_aiohttp_transport_unless_a_test_gives_one() -> None:
    app = create_app(gateway_settings(), bus=InMemoryExecutionBus())
    async with app.router.lifespan_context(app):
        gateway: Gateway = app.state.gateway
        for upstream in (gateway.keyvault, gateway.workspace):
            assert isinstance(upstream.client._transport, AiohttpTransport)
