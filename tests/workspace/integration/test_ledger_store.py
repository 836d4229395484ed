"""The insert-only ledger against the real FerretDB, and its batch consumer on real Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from shared.contracts import ExecutionRequested, ExecutionResult
from shared.kafka import ensure_topics
from tests.workspace.support import Kafka, eventually, requested_event, result_event
from workspace.domain import ExecutionRecord, StoreUnavailableError
from workspace.events import ledger_broker
from workspace.service import Ledger, SharedCatalog
from workspace.settings import WorkspaceSettings
from workspace.store import MongoLedgerStore

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(mongo_url: str, db_name: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    c: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    yield c
    await c.drop_database(db_name)
    await c.close()


@pytest.fixture
async def store(client: AsyncMongoClient[dict[str, Any]], db_name: str) -> MongoLedgerStore:
    s = MongoLedgerStore(client, db_name)
    await s.open()
    return s


def ledger_over(store: Any) -> Ledger:
    return Ledger(store=store, catalog=SharedCatalog(), output_retention=timedelta(days=7))


def result(execution_id: str, org: str = "org-a", **kw: Any) -> ExecutionResult:
    return ExecutionResult.model_validate(result_event(execution_id, org, **kw))


def requested(execution_id: str, org: str = "org-a") -> ExecutionRequested:
    return ExecutionRequested.model_validate(requested_event(execution_id, org))


async def test_duplicates_in_a_batch_and_across_batches_count_once(
    store: MongoLedgerStore,
) -> None:
    ledger = ledger_over(store)
    batch = [result("e1", cost=0.5), result("e1", cost=0.5), result("e2", status="failed")]
    assert await ledger.record_results(batch) == 2
    assert await ledger.record_results([result("e2"), result("e3", cost=0.25)]) == 1
    assert await ledger.record_results([result("e1"), result("e3")]) == 0
    totals = await ledger.month_totals("org-a")
    assert (totals.executions, totals.cost_usd) == (3, 0.751)
    assert (await ledger.execution("org-a", "e2")).status == "failed"  # the first result won
    assert await store.finished.count_documents({}) == 3


async def test_queued_after_finished_does_not_regress(store: MongoLedgerStore) -> None:
    ledger = ledger_over(store)
    await ledger.record_requests([requested("q1")])
    assert (await ledger.execution("org-a", "q1")).status == "queued"
    await ledger.record_results([result("q1"), result("q2")])
    await ledger.record_requests([requested("q1"), requested("q2")])
    for execution_id in ("q1", "q2"):
        record = await ledger.execution("org-a", execution_id)
        assert (record.status, record.output_text, record.input_tokens) == ("succeeded", "Hi.", 10)
    assert not await ledger.record_requested(requested("q2"))
    assert (await ledger.month_totals("org-a")).executions == 2
    assert [r.executions for r in await ledger.usage("org-a", "model")] == [2]
    assert await store.get_execution(org_id="org-b", execution_id="q1") is None


async def test_outputs_are_pruned_in_the_background(store: MongoLedgerStore) -> None:
    ledger = ledger_over(store)
    await ledger.record_results([result("old"), result("failed", status="failed")])
    assert await store.prune_outputs(now=datetime.now(UTC) + timedelta(days=8)) == 1
    record = await ledger.execution("org-a", "old")
    assert (record.output_text, record.finish_reason, record.input_tokens) == (None, "end_turn", 10)
    assert (await ledger.month_totals("org-a")).executions == 2


class FailsOnce:
    """A ledger store whose first batch write fails as after exhausted transient retries."""

    def __init__(self, inner: MongoLedgerStore) -> None:
        self.inner = inner
        self.failures = 0

    async def insert_finished(self, *, records: Sequence[ExecutionRecord]) -> int:
        if self.failures == 0:
            self.failures += 1
            raise StoreUnavailableError("the usage store is busy")
        return await self.inner.insert_finished(records=records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_batches_are_written_once_and_committed_after_a_transient_failure(
    store: MongoLedgerStore,
    kafka_bootstrap: str,
    mongo_url: str,
    db_name: str,
    topic_suffix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("workspace.events.STORE_RETRY_PAUSE_S", 0.1)
    settings = WorkspaceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        mongodb_url=mongo_url,
        kafka_topic_suffix=topic_suffix,
        workspace_db=db_name,
    )
    topics = settings.topics
    await ensure_topics(kafka_bootstrap, topics)
    kafka = Kafka(kafka_bootstrap)
    await kafka.start()
    try:
        # Published before the consumer starts, so they arrive as large batches.
        for i in range(200):
            ev = result_event(f"b{i}", "org-k", key_id=f"k{i % 2}", cost=0.01)
            await kafka.producer.send(topics.execution_result, _json(ev), key=f"b{i}".encode())
            if i % 50 == 7:
                await kafka.producer.send(topics.execution_result, b"{not json", key=b"junk")
                dup = result_event(f"b{i}", "org-k", key_id=f"k{i % 2}", cost=0.01)
                await kafka.producer.send(topics.execution_result, _json(dup), key=b"dup")
            await kafka.producer.send(
                topics.execution_requested,
                _json(requested_event(f"b{i}", "org-k")),
                key=f"b{i}".encode(),
            )
        await kafka.producer.flush()
        flaky = FailsOnce(store)
        ledger = ledger_over(flaky)
        broker = ledger_broker(settings, ledger)
        await broker.start()
        try:
            totals = await eventually(
                lambda: ledger.month_totals("org-k"), lambda t: t.executions >= 200, timeout=60
            )
            assert (totals.executions, totals.cost_usd) == (200, 2.0)
            assert flaky.failures == 1
            queued = await eventually(
                lambda: store.queued.count_documents({"org_id": "org-k"}), lambda n: n == 200
            )
            assert queued == 200
            for i in (0, 7, 199):  # queued records (possibly after their results) never regress
                assert (await ledger.execution("org-k", f"b{i}")).status == "succeeded"
            assert [r.executions for r in await ledger.usage("org-k", "key")] == [100, 100]
            committed = await eventually(
                lambda: _committed(kafka_bootstrap, settings.ledger_group),
                lambda c: (
                    c.get(topics.execution_result) == 208
                    and c.get(topics.execution_requested) == 200
                ),
            )
            assert committed
        finally:
            await broker.stop()
    finally:
        await kafka.stop()


def _json(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body, default=str).encode()


async def _committed(bootstrap: str, group: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    out: dict[str, int] = {}
    for tp, meta in offsets.items():
        out[tp.topic] = out.get(tp.topic, 0) + max(meta.offset, 0)
    return out
