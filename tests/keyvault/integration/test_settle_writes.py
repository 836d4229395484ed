"""Settling a batch of results writes each spend counter once (issue 14), on the real store.

Every result of a priced model moves two counters (its key's and its workspace's), whether or
not a budget is set (the spend must be there when a budget is set mid-month). One write per
result and counter made keyvault's settlement the busiest writer of FerretDB under load: it
fell behind and settled for a minute after a burst. A batch now adds its results up per
counter: one write per counter, with the same totals and the same alerts.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from keyvault.domain.budgets import Charge, counter_id, from_nanos, to_nanos
from keyvault.store import MongoBudgetStore

pytestmark = pytest.mark.integration


class CountingCollection:
    """The counters collection, counting the writes that reach it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith(("update", "find_one_and", "insert", "bulk_write")):
            self.writes += 1
        return attr


@pytest.fixture
async def store(mongo_url: str, db_name: str) -> AsyncIterator[MongoBudgetStore]:
    budget_store = MongoBudgetStore(mongo_url, db_name)
    await budget_store.open()
    yield budget_store
    await budget_store.close()


def charges(org: str, ws: str, key: str, costs: list[float]) -> list[Charge]:
    return [
        Charge(
            org_id=org,
            execution_id=f"exec-{i}",
            key_id=key,
            workspace_id=ws,
            month="2026-12",
            cost_nanos=to_nanos(cost),
        )
        for i, cost in enumerate(costs)
    ]


async def test_a_batch_of_results_writes_each_counter_once(store: MongoBudgetStore) -> None:
    org, ws, key = (f"{p}-{secrets.token_hex(4)}" for p in ("org", "ws", "key"))
    counting = CountingCollection(store._counters)
    store._counters = counting  # type: ignore[assignment]
    batch = charges(org, ws, key, [0.01] * 50)

    moves = await store.settle(batch)

    assert counting.writes == 2  # the key's counter and the workspace's, once each
    key_counter = counter_id(org, "key", key, "2026-12")
    ws_counter = counter_id(org, "workspace", ws, "2026-12")
    spent = await store.spent([key_counter, ws_counter])
    assert from_nanos(spent[key_counter]) == pytest.approx(0.50)
    assert from_nanos(spent[ws_counter]) == pytest.approx(0.50)
    assert await store.used(key_counter) == to_nanos(0.01) * 50
    # One move per counter, spanning the whole batch (alerts compare before and after).
    assert sorted((m.counter_id, m.spent_before_nanos, m.spent_after_nanos) for m in moves) == [
        (key_counter, 0, to_nanos(0.01) * 50),
        (ws_counter, 0, to_nanos(0.01) * 50),
    ]


async def test_a_settled_result_and_a_repeat_in_the_batch_count_once(
    store: MongoBudgetStore,
) -> None:
    org, ws, key = (f"{p}-{secrets.token_hex(4)}" for p in ("org", "ws", "key"))
    first = charges(org, ws, key, [0.02, 0.03])
    await store.settle(first)
    # A redelivered batch (both settled) plus a new one that comes twice in the batch.
    new = charges(org, ws, key, [0.0, 0.0, 0.05])[2]
    moves = await store.settle([*first, new, new])

    ws_counter = counter_id(org, "workspace", ws, "2026-12")
    assert from_nanos((await store.spent([ws_counter]))[ws_counter]) == pytest.approx(0.10)
    assert {(m.spent_before_nanos, m.spent_after_nanos) for m in moves} == {
        (to_nanos(0.05), to_nanos(0.10))
    }
