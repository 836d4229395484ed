"""The store commands keyvault's hot paths send, watched on real FerretDB.

FerretDB 1.24 (SQLite) answers only a filter that is exactly `{"_id": <value>}` from its
primary key; `$in`, an extra field next to `_id` or an org filter scan the whole collection
(measured with 5,000 keys: exact `_id` 0.9 ms, `_id` + `org_id` 3.4 ms, `$in` 180–230 ms).
So a resolution's key lookup and a key list's spend read must be exact `_id` reads.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo import monitoring

from keyvault.app import create_app
from keyvault.domain import AssignmentsView, EncryptedSecret, ProviderKey
from keyvault.domain.budgets import Charge, Delivery, counter_id, month_of, to_nanos
from keyvault.service.budgets import BudgetGuard
from keyvault.settings import KeyvaultSettings
from keyvault.store import MongoBudgetStore, MongoKeyStore
from shared.contracts import ExecutionResult, ExecutionUsage
from shared.crypto import new_recipient
from shared.settings import DEV_SERVICE_TOKENS
from tests.keyvault.fakes import InMemoryKeyStore
from tests.keyvault.integration.conftest import Running
from tests.support.servers import serve

pytestmark = pytest.mark.integration


class Commands(monitoring.CommandListener):
    """Every command a store's client sends (name and body)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def finds(self, collection: str) -> list[dict[str, Any]]:
        return [c for name, c in self.seen if name == "find" and c["find"] == collection]

    def clear(self) -> None:
        self.seen.clear()


def exact_id_reads(finds: list[dict[str, Any]]) -> bool:
    """Every find is `{"_id": <scalar>}` and nothing else, for at most one document."""
    return all(
        set(c["filter"]) == {"_id"}
        and not isinstance(c["filter"]["_id"], dict)
        and c.get("limit") == 1
        for c in finds
    )


def _key(key_id: str, org: str) -> ProviderKey:
    return ProviderKey(
        id=key_id,
        org_id=org,
        provider="anthropic",
        name=key_id,
        preview="sk-ant-…abcd",
        status="active",
        created_at=datetime.now(UTC),
        created_by="user-1",
    )


SECRET = EncryptedSecret(kek_version="v1", wrapped_dek=b"w" * 40, ciphertext=b"c" * 60)


@pytest.fixture
async def watched(mongo_url: str, db_name: str) -> AsyncIterator[tuple[MongoKeyStore, Commands]]:
    commands = Commands()
    store = MongoKeyStore(mongo_url, db_name, listeners=[commands])
    await store.open()
    yield store, commands
    await store.close()


async def test_key_lookup_reads_each_key_by_exact_id(
    watched: tuple[MongoKeyStore, Commands], unique: str
) -> None:
    store, commands = watched
    org, other = f"org-{unique}", f"other-{unique}"
    for key_id, owner in (("k1", org), ("k2", org), ("kb", other), ("kd", org)):
        await store.insert_key(key=_key(f"{key_id}-{unique}", owner), secret=SECRET)
    await store.delete_key(org_id=org, key_id=f"kd-{unique}")
    commands.clear()

    found = await store.key_material(
        org_id=org,
        key_ids=[f"{k}-{unique}" for k in ("k2", "kb", "k1", "kd", "missing")],
    )

    # The org's keys in the asked order; another org's key is not there; a deleted one is
    # there without its secret.
    assert [(k.id, s) for k, s in found] == [
        (f"k2-{unique}", SECRET),
        (f"k1-{unique}", SECRET),
        (f"kd-{unique}", None),
    ]
    finds = commands.finds("keys")
    assert len(finds) == 5
    assert exact_id_reads(finds), finds


async def test_a_key_read_is_by_exact_id_and_scoped_to_its_org(
    watched: tuple[MongoKeyStore, Commands], unique: str
) -> None:
    store, commands = watched
    org, other = f"org-{unique}", f"other-{unique}"
    await store.insert_key(key=_key(f"k-{unique}", org), secret=SECRET)
    commands.clear()

    mine = await store.get_key(org_id=org, key_id=f"k-{unique}")
    theirs = await store.get_key(org_id=other, key_id=f"k-{unique}")

    assert mine is not None
    assert mine.id == f"k-{unique}"
    assert theirs is None
    finds = commands.finds("keys")
    assert len(finds) == 2
    assert exact_id_reads(finds), finds


def quarter_dollar(org: str, execution_id: str, month: str) -> Charge:
    """A $0.25 execution of key k1 in workspace ws."""
    return Charge(
        org_id=org,
        execution_id=execution_id,
        key_id="k1",
        workspace_id="ws",
        month=month,
        cost_nanos=to_nanos(0.25),
    )


async def test_spend_is_read_by_exact_counter_id(mongo_url: str, db_name: str, unique: str) -> None:
    commands = Commands()
    budgets = MongoBudgetStore(mongo_url, db_name, listeners=[commands])
    await budgets.open()
    try:
        org, now = f"org-{unique}", datetime.now(UTC)
        month = month_of(now)
        await budgets.settle([quarter_dollar(org, f"e-{unique}", month)])
        commands.clear()
        ids = [counter_id(org, "key", k, month) for k in ("k1", "k2")]

        assert await budgets.spent(ids) == {ids[0]: to_nanos(0.25)}
        finds = commands.finds("budget_counters")
        assert len(finds) == 2
        assert exact_id_reads(finds), finds
    finally:
        await budgets.close()


async def test_settlement_reads_its_markers_and_counters_by_exact_id(
    mongo_url: str, db_name: str, unique: str
) -> None:
    """A settlement batch asks which of its executions were settled before by exact `_id`
    reads: the markers are one per execution ever settled, and a `$in` over them is a scan
    of them all on FerretDB (8 ids among 20,000 documents: 205 ms), growing with history.
    A redelivered result is still charged once."""
    commands = Commands()
    budgets = MongoBudgetStore(mongo_url, db_name, listeners=[commands])
    await budgets.open()
    try:
        org, month = f"org-{unique}", month_of(datetime.now(UTC))
        await budgets.settle([quarter_dollar(org, f"e{n}-{unique}", month) for n in range(3)])
        commands.clear()
        # e2 was settled before
        await budgets.settle([quarter_dollar(org, f"e{n}-{unique}", month) for n in range(2, 5)])
        finds = commands.finds("budget_settled")
        assert len(finds) == 3
        assert exact_id_reads(finds), finds
        key_counter = counter_id(org, "key", "k1", month)
        assert await budgets.spent([key_counter]) == {key_counter: to_nanos(0.25) * 5}
    finally:
        await budgets.close()


async def test_a_resolution_reads_its_key_by_exact_id_and_inserts_one_audit_entry(
    settings_factory: Any, producer: Any, mongo_url: str, db_name: str, unique: str
) -> None:
    # No outbox round during the test: its publish reads the key too.
    settings: KeyvaultSettings = settings_factory(keyvault_outbox_interval_s=3600)
    commands = Commands()
    store = MongoKeyStore(mongo_url, db_name, listeners=[commands])
    async with serve(create_app(settings, store=store)) as url:
        gateway = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['gateway']}"}
        )
        runner = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {DEV_SERVICE_TOKENS['agent-runner']}"}
        )
        kv = Running(url, settings, gateway, runner, producer)
        try:
            org, ws = f"org-{unique}", f"ws-{unique}"
            created = await kv.create(org, "anthropic", "Main", "sk-ant-" + "m" * 40)
            assert created.status_code == 201, created.text
            key_id = created.json()["id"]
            await kv.assign(ws, org, [key_id])
            _, public = new_recipient()
            first = await kv.resolve(org, ws, "anthropic", public)
            for _ in range(100):  # until the read model has the assignment
                if first.status_code == 200:
                    break
                first = await kv.resolve(org, ws, "anthropic", public)
            assert first.status_code == 200, first.text
            commands.clear()

            for i in range(5):
                answer = await kv.resolve(org, ws, "anthropic", public, execution_id=f"x{i}")
                assert answer.status_code == 200, answer.text
                assert answer.json()["key_id"] == key_id
                assert base64.b64decode(answer.json()["sealed"])

            key_reads = [c for c in commands.finds("keys") if "_id" in c["filter"]]
            assert len(key_reads) == 5
            assert exact_id_reads(key_reads), key_reads
            audit_inserts = [
                c for name, c in commands.seen if name == "insert" and c["insert"] == "audit"
            ]
            assert len(audit_inserts) == 5
        finally:
            await gateway.aclose()
            await runner.aclose()
            await store.close()


async def test_concurrent_refusals_of_one_budget_raise_its_alert_with_one_write(
    mongo_url: str, db_name: str, unique: str
) -> None:
    commands = Commands()
    budgets = MongoBudgetStore(mongo_url, db_name, listeners=[commands])
    await budgets.open()
    try:
        guard = BudgetGuard(store=budgets, keys=InMemoryKeyStore(), assignments=AssignmentsView())
        org = f"org-{unique}"
        capped = replace(_key(f"k-{unique}", org), budget_usd_monthly=1.0)
        first = await guard.admit(
            org_id=org, workspace_id="ws", execution_id="e-0", key=capped, estimate_usd=1.0
        )
        assert first is None  # the whole budget is now held
        commands.clear()

        refusals = await asyncio.gather(
            *(
                guard.admit(
                    org_id=org,
                    workspace_id="ws",
                    execution_id=f"e-{i}",
                    key=capped,
                    estimate_usd=0.1,
                )
                for i in range(1, 41)
            )
        )

        assert all(r is not None and r.scope == "key" for r in refusals)
        alert_writes = [
            c for name, c in commands.seen if name == "insert" and c["insert"] == "alerts"
        ]
        assert len(alert_writes) == 1  # not one per refused execution
        stored, _ = await guard.page(org_id=org, limit=10, cursor=None)
        assert [(a.kind, a.threshold_pct) for a in stored] == [("budget", 100)]
    finally:
        await budgets.close()


def _delivery(
    org: str, execution_id: str, stream: str, offset: int, *, republished: bool = False
) -> Delivery:
    result = ExecutionResult(
        execution_id=execution_id,
        org_id=org,
        workspace_id="ws",
        status="succeeded",
        model="claude-sonnet-4-6",
        provider="anthropic",
        key_id="k1",
        usage=ExecutionUsage(input_tokens=10, output_tokens=10, cost_usd=0.25),
        attempts=1,
        duration_ms=5,
    )
    return Delivery(result=result, stream=stream, offset=offset, republished=republished)


async def test_settlement_looks_up_only_results_that_may_have_been_settled(
    mongo_url: str, db_name: str, unique: str
) -> None:
    """Most results are new: a batch past its partition's settled offset settles without a
    marker read (one exact read per result was the busiest FerretDB command of the Kafka
    path). Records read again are skipped by offset; a result the runner published again is
    looked up, and every execution is still charged once."""
    commands = Commands()
    budgets = MongoBudgetStore(mongo_url, db_name, listeners=[commands])
    await budgets.open()
    try:
        guard = BudgetGuard(store=budgets, keys=InMemoryKeyStore(), assignments=AssignmentsView())
        org, stream = f"org-{unique}", f"keyvault-spend|results-{unique}|0"
        key_counter = counter_id(org, "key", "k1", month_of(datetime.now(UTC)))

        # The partition's first batch: no settled offset yet, so each result is looked up.
        await guard.settle([_delivery(org, f"e{n}", stream, n) for n in range(3)])
        assert len(commands.finds("budget_settled")) == 3
        assert await budgets.settled_up_to([stream]) == {stream: 2}
        commands.clear()

        # Past the offset: no marker read at all.
        await guard.settle([_delivery(org, f"e{n}", stream, n) for n in range(3, 6)])
        assert commands.finds("budget_settled") == []
        assert await budgets.spent([key_counter]) == {key_counter: to_nanos(0.25) * 6}
        commands.clear()

        # The consumer reads 4..5 again (a restart before its commit) with a new 6, and the
        # runner publishes e1 again (a redelivered request): e1 is looked up, nothing counts
        # twice.
        again = [_delivery(org, f"e{n}", stream, n) for n in (4, 5, 6)]
        await guard.settle([*again, _delivery(org, "e1", stream, 7, republished=True)])
        finds = commands.finds("budget_settled")
        assert [f["filter"]["_id"] for f in finds] == [f"{org}|e1"]
        assert exact_id_reads(finds), finds
        assert await budgets.spent([key_counter]) == {key_counter: to_nanos(0.25) * 7}
        assert await budgets.settled_up_to([stream]) == {stream: 7}
    finally:
        await budgets.close()


async def test_a_settled_offset_never_moves_back(mongo_url: str, db_name: str, unique: str) -> None:
    budgets = MongoBudgetStore(mongo_url, db_name)
    await budgets.open()
    try:
        a, b = f"g|t-{unique}|0", f"g|t-{unique}|1"
        assert await budgets.settled_up_to([a, b]) == {}
        await budgets.mark_settled_up_to({a: 10})
        await budgets.mark_settled_up_to({a: 4, b: 0})  # a late, smaller one changes nothing
        assert await budgets.settled_up_to([a, b]) == {a: 10, b: 0}
        await budgets.mark_settled_up_to({a: 2**40})  # offsets are 64-bit
        assert await budgets.settled_up_to([a]) == {a: 2**40}
    finally:
        await budgets.close()
