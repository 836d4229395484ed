"""In-memory stand-ins for the gateway's unit tests (never in the production package)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.domain import BusUnavailableError
from gateway.events import Waiters
from shared.contracts import ExecutionRequested, ExecutionResult


class InMemoryExecutionBus:
    """A bus for unit tests: keeps what was published; `deliver` plays the runner's part."""

    def __init__(self, *, up: bool = True) -> None:
        self.published: list[ExecutionRequested] = []
        self.waiters = Waiters()
        self.up = up

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return self.up

    async def publish(self, request: ExecutionRequested) -> None:
        if not self.up:
            raise BusUnavailableError("kafka is down")
        self.published.append(request)

    def deliver(self, result: ExecutionResult) -> None:
        self.waiters.resolve(result)

    async def wait_for(
        self,
        org_id: str,
        execution_id: str,
        seconds: float,
        publish: Callable[[], Awaitable[None]],
    ) -> ExecutionResult | None:
        return await self.waiters.wait(org_id, execution_id, seconds, publish)
