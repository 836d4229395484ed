"""Round-robin shards of small httpx clients instead of one client with a huge pool.

httpcore's connection pool re-examines every connection of the pool on each request
(`_assign_requests_to_connections`: `is_idle`/`has_expired` per connection), so with hundreds
of executions in flight one pool of 256–1024 connections costs O(in flight × pool size) per
request; a profile at 256 in flight showed it as the runner's top hot spot. Several clients
of ~32 connections each keep that scan short; together they allow the same total.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from itertools import count

import httpx

PER_SHARD = 32


class ClientShards:
    """`pick()` hands out the shards in turn; `aclose()` closes them all."""

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        if not clients:
            raise ValueError("at least one client")
        self.clients = clients
        self._turn = count()

    @classmethod
    def build(
        cls,
        factory: Callable[[httpx.Limits], httpx.AsyncClient],
        *,
        max_connections: int,
        per_shard: int = PER_SHARD,
    ) -> ClientShards:
        """Enough shards of at most `per_shard` connections for `max_connections` in total."""
        shards = max(1, math.ceil(max_connections / per_shard))
        each = math.ceil(max_connections / shards)
        limits = httpx.Limits(max_connections=each, max_keepalive_connections=each)
        return cls([factory(limits) for _ in range(shards)])

    @classmethod
    def of(cls, client: httpx.AsyncClient | ClientShards) -> ClientShards:
        return client if isinstance(client, ClientShards) else cls([client])

    def pick(self) -> httpx.AsyncClient:
        return self.clients[next(self._turn) % len(self.clients)]

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients))
