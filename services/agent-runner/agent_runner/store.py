"""The dedupe record: finished executions and the result published for each.

Stored before the result is published, so a request redelivered after a crash anywhere
past that point republishes the same result instead of calling the provider again.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from shared.contracts import ExecutionResult


class MongoDedupeStore:
    """`results` collection of the runner's own database; `_id` is the execution id."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], db: str) -> None:
        self._client = client
        self._results = client[db]["results"]

    async def open(self) -> None:
        """Nothing to index beyond `_id`; checks the server answers."""
        await self._client.admin.command("ping")

    async def ping(self) -> bool:
        try:
            await self._client.admin.command("ping")
        except Exception:
            return False
        return True

    async def get(self, *, execution_id: str) -> ExecutionResult | None:
        doc = await self._results.find_one({"_id": execution_id})
        return None if doc is None else ExecutionResult.model_validate(doc["result"])

    async def put(self, *, result: ExecutionResult) -> ExecutionResult:
        doc = {
            "_id": result.execution_id,
            "result": result.model_dump(mode="json"),
            "at": result.occurred_at,
        }
        try:
            await self._results.insert_one(doc)
        except DuplicateKeyError:  # another instance finished it first: publish its result
            existing = await self.get(execution_id=result.execution_id)
            return existing or result
        return result

    async def close(self) -> None:
        await self._client.close()


class InMemoryDedupeStore:
    """The in-memory twin for unit tests."""

    def __init__(self) -> None:
        self.results: dict[str, ExecutionResult] = {}

    async def open(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def get(self, *, execution_id: str) -> ExecutionResult | None:
        return self.results.get(execution_id)

    async def put(self, *, result: ExecutionResult) -> ExecutionResult:
        return self.results.setdefault(result.execution_id, result)

    async def close(self) -> None:
        return None
