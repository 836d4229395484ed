"""Pool sharding: several small httpx clients used in turn, together as big as asked."""

from __future__ import annotations

import httpx

from agent_runner.pool import ClientShards
from tests.agent_runner.unit.fakes import (
    FakeKeyvault,
    ScriptedProvider,
    anthropic_ok,
    request,
    settings,
)


def test_build_splits_the_connection_budget_into_small_shards() -> None:
    made: list[httpx.Limits] = []

    def factory(limits: httpx.Limits) -> httpx.AsyncClient:
        made.append(limits)
        return httpx.AsyncClient(limits=limits)

    shards = ClientShards.build(factory, max_connections=1024, per_shard=32)
    assert len(shards.clients) == 32
    assert {lim.max_connections for lim in made} == {32}
    odd = ClientShards.build(factory, max_connections=100, per_shard=32)
    assert len(odd.clients) == 4
    assert sum(lim.max_connections or 0 for lim in made[-4:]) >= 100
    one = ClientShards.build(factory, max_connections=5, per_shard=32)
    assert len(one.clients) == 1


def test_pick_goes_round_robin_and_of_wraps_a_single_client() -> None:
    clients = [httpx.AsyncClient() for _ in range(3)]
    shards = ClientShards(clients)
    assert [shards.pick() for _ in range(6)] == clients + clients
    single = httpx.AsyncClient()
    assert ClientShards.of(single).pick() is single
    assert ClientShards.of(shards) is shards


async def test_executions_spread_over_every_shard_and_still_succeed() -> None:
    from agent_runner.executor import Executor
    from agent_runner.keys import KeyvaultClient
    from agent_runner.metrics import RunnerMetrics
    from shared.catalog import load_prices

    keyvault = FakeKeyvault(keys={"anthropic": [("key_a", "sk-ant-api03-pool-0123456789abc")]})
    providers = [ScriptedProvider([anthropic_ok]) for _ in range(4)]
    s = settings()
    shards = ClientShards(
        [httpx.AsyncClient(transport=httpx.MockTransport(p.handler)) for p in providers]
    )
    kv = ClientShards(
        [
            httpx.AsyncClient(
                base_url=s.keyvault_url, transport=httpx.MockTransport(keyvault.handler)
            )
            for _ in range(2)
        ]
    )
    executor = Executor(
        s,
        http=shards,
        keyvault=KeyvaultClient(kv, retries=0, backoff_base=0.0, backoff_max=0.0),
        prices=load_prices(),
        metrics=RunnerMetrics(),
    )
    results = [await executor.execute(request(execution_id=f"e-{n}")) for n in range(8)]
    assert {r.status for r in results} == {"succeeded"}
    assert [len(p.requests) for p in providers] == [2, 2, 2, 2]
    assert len(keyvault.calls) == 8
    await shards.aclose()
    await kv.aclose()
