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
from tests.support.kafka import kafka_options, kafka_settings
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

    async def insert_finished(self, *, records: Sequence[ExecutionRecord]) -> list[ExecutionRecord]:
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
    await ensure_topics(kafka_settings(kafka_bootstrap), topics)
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
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    out: dict[str, int] = {}
    for tp, meta in offsets.items():
        out[tp.topic] = out.get(tp.topic, 0) + max(meta.offset, 0)
    return out


async def test_two_orgs_using_the_same_execution_id_each_read_their_own(
    store: MongoLedgerStore,
) -> None:
    ledger = ledger_over(store)
    assert await ledger.record_requested(requested("shared", "org-b"))
    mine = result("shared", "org-a", key_id="key-a", cost=0.5)
    theirs = result("shared", "org-b", key_id="key-b", cost=0.25, status="failed")
    assert await ledger.record_results([mine, theirs, mine]) == 2  # one batch, two orgs
    assert await ledger.record_results([theirs]) == 0
    a = await ledger.execution("org-a", "shared")
    b = await ledger.execution("org-b", "shared")
    assert (a.org_id, a.key_id, a.status, a.output_text) == ("org-a", "key-a", "succeeded", "Hi.")
    assert (b.org_id, b.key_id, b.status, b.output_text) == ("org-b", "key-b", "failed", None)
    assert (await ledger.month_totals("org-a")).executions == 1
    assert (await ledger.month_totals("org-b")).executions == 1
    assert [r.group for r in await ledger.usage("org-b", "key")] == ["key-b"]
    assert not await ledger.record_requested(requested("shared", "org-b"))
    (page, _cursor) = await ledger.recent("org-b", "ws-1", limit=10)
    assert [(r.org_id, r.status) for r in page] == [("org-b", "failed")]
    assert await store.finished.count_documents({}) == 2


async def test_recent_pages_through_equal_times_by_execution_id(store: MongoLedgerStore) -> None:
    ledger = ledger_over(store)
    at = datetime(2026, 1, 5, tzinfo=UTC)
    await ledger.record_results([result(f"p{n}", occurred_at=at) for n in range(5)])
    await ledger.record_results([result("p2", "org-b", occurred_at=at)])
    await ledger.record_requests([requested("p9"), requested("p8", "org-b")])
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = await ledger.recent("org-a", "ws-1", limit=2, cursor=cursor)
        seen += [r.execution_id for r in page]
        assert {r.org_id for r in page} == {"org-a"}
        if cursor is None:
            break
    assert seen[1:] == ["p4", "p3", "p2", "p1", "p0"]
    assert seen[0] == "p9"  # queued now: newer than the finished ones


async def test_records_keyed_the_old_way_are_moved_once_at_open(
    client: AsyncMongoClient[dict[str, Any]], db_name: str
) -> None:
    """Before ids were scoped by org the ledger's `_id` was the execution id alone."""
    at = datetime(2026, 1, 5, tzinfo=UTC)
    db = client[db_name]
    await db["ledger_finished"].insert_one(
        {
            "_id": "old-1",
            "org_id": "org-a",
            "workspace_id": "ws-1",
            "status": "succeeded",
            "model": "claude-sonnet-4-6",
            "input_tokens": 10,
            "output_tokens": 5,
            "cost_usd": 0.5,
            "finished_at": at,
        }
    )
    for execution_id in ("old-1", "old-2"):
        await db["ledger_queued"].insert_one(
            {
                "_id": execution_id,
                "org_id": "org-a",
                "workspace_id": "ws-1",
                "status": "queued",
                "model": "claude-sonnet-4-6",
                "requested_at": at,
            }
        )
    for _ in range(2):  # idempotent: a second open (another replica) changes nothing
        store = MongoLedgerStore(client, db_name)
        await store.open()
        ledger = ledger_over(store)
        assert (await ledger.execution("org-a", "old-1")).status == "succeeded"
        assert (await ledger.execution("org-a", "old-2")).status == "queued"
        assert await store.get_execution(org_id="org-b", execution_id="old-1") is None
        assert [r.executions for r in await ledger.usage("org-a", "workspace")] == [1]
        page, _cursor = await ledger.recent("org-a", "ws-1", limit=10)
        assert [(r.execution_id, r.status) for r in page] == [
            ("old-2", "queued"),
            ("old-1", "succeeded"),
        ]
        assert await store.finished.count_documents({"execution_id": {"$exists": False}}) == 0
        assert await store.queued.count_documents({"execution_id": {"$exists": False}}) == 0
        assert await store.queued.count_documents({}) == 2
    # The result of an old queued execution arrives: recorded once, under the new key; a
    # second result of an old finished one is a duplicate.
    assert await ledger.record_results([result("old-2"), result("old-1")]) == 1
    assert (await ledger.execution("org-a", "old-2")).status == "succeeded"
    assert await store.finished.count_documents({}) == 2


async def test_a_start_does_not_rescan_for_old_keys_once_moved_and_the_command_still_moves(
    client: AsyncMongoClient[dict[str, Any]], db_name: str, mongo_url: str
) -> None:
    """Finding old-shape records is a scan of every record on FerretDB: `open()` does it
    until it has completed once; `rekey-ledger` moves what an old replica wrote since."""
    from workspace.app import run_maintenance

    db = client[db_name]
    store = MongoLedgerStore(client, db_name)
    await store.open()  # an empty ledger: nothing to move, and the move is marked done
    assert await db["ledger_meta"].find_one({"_id": "ledger-rekey-v1"}) is not None
    old = {
        "_id": "late-1",
        "org_id": "org-a",
        "workspace_id": "ws-1",
        "status": "queued",
        "model": "claude-sonnet-4-6",
        "requested_at": datetime(2026, 1, 5, tzinfo=UTC),
    }
    await db["ledger_queued"].insert_one(old)  # an older replica, mid-upgrade
    await MongoLedgerStore(client, db_name).open()
    assert await db["ledger_queued"].find_one({"_id": "late-1"}) is not None  # not rescanned
    settings = WorkspaceSettings(mongodb_url=mongo_url, workspace_db=db_name)
    assert await run_maintenance(settings, "rekey-ledger") == 1
    assert await run_maintenance(settings, "rekey-ledger") == 0
    assert await db["ledger_queued"].find_one({"_id": "late-1"}) is None
    assert (await ledger_over(store).execution("org-a", "late-1")).status == "queued"


async def test_a_recorded_result_is_answered_as_stored_without_reading_it_back(
    mongo_url: str, db_name: str
) -> None:
    """The gateway's test run records its result and shows the answer: the record this call
    inserted is what any later read returns (datetimes to the millisecond, as BSON keeps
    them), so no read follows the insert; when an earlier result won, that one is read back."""
    from pymongo import monitoring

    class Finds(monitoring.CommandListener):
        def __init__(self) -> None:
            self.finds: list[str] = []

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            if event.command_name == "find":
                self.finds.append(str(event.command.get("find")))

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...
        def failed(self, event: monitoring.CommandFailedEvent) -> None: ...

    listener = Finds()
    c: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_url, tz_aware=True, event_listeners=[listener]
    )
    try:
        s = MongoLedgerStore(c, db_name)
        await s.open()
        ledger = ledger_over(s)
        at = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
        listener.finds.clear()
        [shown] = await ledger.record_and_read([result("t1", cost=0.5, occurred_at=at)])
        assert "ledger_finished" not in listener.finds
        assert shown == await ledger.execution("org-a", "t1")
        assert shown.finished_at == at.replace(microsecond=123000)

        # A second, different result for the same execution: the first one won, and this
        # process, which inserted it, answers it as remembered (no read back).
        listener.finds.clear()
        [again] = await ledger.record_and_read([result("t1", status="failed", occurred_at=at)])
        assert again == shown
        assert "ledger_finished" not in listener.finds
        # Another workspace replica, which did not insert it, reads the winner back.
        [elsewhere] = await ledger_over(s).record_and_read(
            [result("t1", status="failed", occurred_at=at)]
        )
        assert elsewhere == shown
        assert "ledger_finished" in listener.finds
    finally:
        await c.drop_database(db_name)
        await c.close()
