"""Batch ingestion and transient store failures, without network (fakes for the store)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from pymongo.errors import AutoReconnect, BulkWriteError, OperationFailure

from shared.contracts import ExecutionRequested, ExecutionResult
from tests.workspace.fakes import (
    InMemoryLedgerStore,
    InMemoryRunBoundsStore,
    InMemoryWorkspaceStore,
)
from tests.workspace.support import (
    FakeConfirmer,
    RecordingPublisher,
    requested_event,
    result_event,
)
from workspace.app import create_app
from workspace.domain import ExecutionRecord, StoreUnavailableError
from workspace.events import valid_events
from workspace.service import Ledger, SharedCatalog
from workspace.settings import WorkspaceSettings
from workspace.store import ledger as ledger_store
from workspace.store.ledger import insert_new, retrying

LOCKED = OperationFailure("database is locked", code=1)


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without the backoff pauses (the policy is the same, the test is quick)."""
    no_pauses = replace(ledger_store.BACKOFF, first_pause_s=0.0)
    monkeypatch.setattr(ledger_store, "BACKOFF", no_pauses)


def make_ledger() -> tuple[Ledger, InMemoryLedgerStore]:
    store = InMemoryLedgerStore()
    ledger = Ledger(store=store, catalog=SharedCatalog(), output_retention=timedelta(days=7))
    return ledger, store


def result(execution_id: str, org: str = "org-a", **kw: Any) -> ExecutionResult:
    return ExecutionResult.model_validate(result_event(execution_id, org, **kw))


def requested(execution_id: str, org: str = "org-a") -> ExecutionRequested:
    return ExecutionRequested.model_validate(requested_event(execution_id, org))


def record(offset: int, value: bytes | None, topic: str = "t") -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value or b""),
        headers=(),
    )


# --- the ledger in batches --------------------------------------------------------------


async def test_duplicates_in_one_batch_and_across_batches_count_once() -> None:
    ledger, _ = make_ledger()
    first = [result("e1", cost=0.5), result("e1", cost=0.5), result("e2", cost=0.25)]
    assert await ledger.record_results(first) == 2
    assert await ledger.record_results([result("e2", cost=0.25), result("e3")]) == 1
    assert await ledger.record_results([result("e1"), result("e3")]) == 0
    [row] = await ledger.usage("org-a", "key")
    assert (row.executions, row.cost_usd) == (3, 0.751)
    assert (await ledger.month_totals("org-a")).executions == 3


async def test_first_result_wins_within_a_batch() -> None:
    ledger, _ = make_ledger()
    await ledger.record_results([result("e1", status="failed"), result("e1")])
    assert (await ledger.execution("org-a", "e1")).status == "failed"


async def test_queued_after_finished_does_not_regress() -> None:
    ledger, _ = make_ledger()
    await ledger.record_results([result("e1")])
    await ledger.record_requests([requested("e1"), requested("e2")])
    assert (await ledger.execution("org-a", "e1")).status == "succeeded"
    assert (await ledger.execution("org-a", "e2")).status == "queued"
    await ledger.record_results([result("e2", status="failed")])
    assert (await ledger.execution("org-a", "e2")).status == "failed"
    await ledger.record_requests([requested("e2")])
    assert (await ledger.execution("org-a", "e2")).status == "failed"
    assert (await ledger.month_totals("org-a")).executions == 2


def test_an_invalid_message_inside_a_batch_is_skipped_and_the_rest_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = [json.dumps(result_event(f"e{i}", "org-a")).encode() for i in range(3)]
    batch = [
        record(0, good[0]),
        record(1, b"{not json"),
        record(2, good[1]),
        record(3, None),  # a tombstone
        record(4, json.dumps({"execution_id": "e9"}).encode()),  # misses required fields
        record(5, good[2]),
    ]
    events = valid_events(batch, ExecutionResult)
    assert [e.execution_id for e in events] == ["e0", "e1", "e2"]
    skipped = [r.getMessage() for r in caplog.records if "invalid ExecutionResult" in r.message]
    assert [m.rsplit("@", 1)[1] for m in skipped] == ["1", "4"]


# --- transient store errors ----------------------------------------------------------------


class ScriptedCollection:
    """insert_many that fails as scripted, then stores what it is given (ids unique)."""

    def __init__(self, failures: Sequence[BaseException | None] = ()) -> None:
        self.failures = list(failures)
        self.ids: list[str] = []
        self.calls: list[list[str]] = []

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        assert ordered is False
        self.calls.append([d["_id"] for d in docs])
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None and not isinstance(failure, BulkWriteError):
            raise failure
        errors: list[dict[str, Any]] = []
        inserted = 0
        for index, doc in enumerate(docs):
            if doc["_id"] in self.ids:
                errors.append({"index": index, "code": 11000, "errmsg": "E11000 duplicate key"})
            elif failure is not None and doc["_id"] in failure.details["fail_ids"]:
                errors.append({"index": index, "code": 1, "errmsg": failure.details["msg"]})
            else:
                self.ids.append(doc["_id"])
                inserted += 1
        if errors:
            raise BulkWriteError({"writeErrors": errors, "nInserted": inserted})


def failing_docs(ids: set[str], msg: str) -> BulkWriteError:
    """A marker for ScriptedCollection: these documents fail with `msg` in this call."""
    return BulkWriteError({"fail_ids": ids, "msg": msg, "writeErrors": []})


def docs(*ids: str) -> list[dict[str, Any]]:
    return [{"_id": i} for i in ids]


async def test_duplicates_in_a_bulk_write_are_already_there(no_pause: None) -> None:
    col = ScriptedCollection()
    assert await insert_new(col, docs("a", "b"), "t") == 2  # type: ignore[arg-type]
    assert await insert_new(col, docs("b", "c", "a", "d"), "t") == 2  # type: ignore[arg-type]
    assert sorted(col.ids) == ["a", "b", "c", "d"]


async def test_transient_error_then_success(no_pause: None) -> None:
    col = ScriptedCollection([LOCKED, AutoReconnect("reconnecting")])
    assert await insert_new(col, docs("a", "b"), "t") == 2  # type: ignore[arg-type]
    assert col.calls == [["a", "b"]] * 3
    assert col.ids == ["a", "b"]


async def test_only_the_documents_that_failed_transiently_are_sent_again(
    no_pause: None,
) -> None:
    col = ScriptedCollection([failing_docs({"b"}, "database is locked")])
    assert await insert_new(col, docs("a", "b", "c"), "t") == 3  # type: ignore[arg-type]
    assert col.calls == [["a", "b", "c"], ["b"]]


async def test_other_write_errors_are_never_swallowed(no_pause: None) -> None:
    col = ScriptedCollection([failing_docs({"b"}, "document is too large")])
    with pytest.raises(BulkWriteError):
        await insert_new(col, docs("a", "b"), "t")  # type: ignore[arg-type]
    col = ScriptedCollection([OperationFailure("not authorized", code=13)])
    with pytest.raises(OperationFailure):
        await insert_new(col, docs("a"), "t")  # type: ignore[arg-type]
    assert col.calls == [["a"]]


async def test_a_store_that_stays_locked_is_unavailable_after_bounded_retries(
    no_pause: None,
) -> None:
    col = ScriptedCollection([LOCKED] * 50)
    with pytest.raises(StoreUnavailableError):
        await insert_new(col, docs("a"), "t")  # type: ignore[arg-type]
    assert 2 <= len(col.calls) <= 10

    calls = 0

    async def flaky_read() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise LOCKED
        return "ok"

    assert await retrying(flaky_read, "read") == "ok"
    assert calls == 2


# --- the HTTP answer when the store stays busy ------------------------------------------------


class LockedLedgerStore(InMemoryLedgerStore):
    """Reads go through the real retry policy against a store that is always locked."""

    async def get_execution(self, *, org_id: str, execution_id: str) -> ExecutionRecord | None:
        async def locked() -> ExecutionRecord | None:
            raise LOCKED

        return await retrying(locked, "read")


class ReconnectingWorkspaceStore(InMemoryWorkspaceStore):
    async def count_workspaces(self, *, org_id: str) -> int:
        raise AutoReconnect("primary stepped down")


@pytest.mark.parametrize("path", ["/executions/e1", "/plan"])
async def test_a_busy_store_answers_503_retryable_never_500(no_pause: None, path: str) -> None:
    app = create_app(
        WorkspaceSettings(),
        store=ReconnectingWorkspaceStore(),
        ledger_store=LockedLedgerStore(),
        bounds_store=InMemoryRunBoundsStore(),
        publisher=RecordingPublisher(),
        confirmer=FakeConfirmer(),
        kafka=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ws") as client:
            r = await client.get(
                f"/internal/v1/orgs/org-a{path}",
                headers={"Authorization": f"Bearer {_gateway_token()}"},
            )
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == "1"
    assert r.json()["code"] == "store_unavailable"
    assert "locked" not in r.text.lower()
    assert "primary" not in r.text.lower()


def _gateway_token() -> str:
    from shared.settings import DEV_SERVICE_TOKENS

    return DEV_SERVICE_TOKENS["gateway"]


async def test_results_the_gateway_records_at_once_are_written_as_one_batch() -> None:
    import asyncio

    ledger, store = make_ledger()
    writes: list[int] = []
    insert = store.insert_finished

    async def counted(*, records: Sequence[ExecutionRecord]) -> list[ExecutionRecord]:
        writes.append(len(records))
        return await insert(records=records)

    store.insert_finished = counted  # type: ignore[method-assign]
    calls = [[result(f"g{i}") for i in range(n, n + 5)] for n in range(0, 20, 5)]
    answers = await asyncio.gather(*(ledger.record_and_read(batch) for batch in calls))
    read = [record for answer in answers for record in answer]
    assert [r.execution_id for r in read] == [f"g{i}" for i in range(20)]
    assert all(r.status == "succeeded" for r in read)
    assert writes == [20]  # one write for the four calls' twenty, each answered after it

    # A batch holding a result recorded before and a duplicate: each answered as stored.
    first = (await ledger.record_and_read([result("g0", status="failed")]))[0]
    assert first.status == "succeeded"  # the first result won
    twice = await ledger.record_and_read([result("h1"), result("h1", status="failed")])
    assert [r.status for r in twice] == ["succeeded", "succeeded"]


async def test_a_result_the_consumer_recorded_first_is_answered_without_a_read() -> None:
    """The gateway's recording of a test run races this process's Kafka consumer: when the
    consumer won, the record it inserted is the answer (no read back) for ten minutes; after
    that, or for an execution another replica recorded, the store is read."""
    from datetime import UTC, datetime

    now = [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    store = InMemoryLedgerStore()
    ledger = Ledger(
        store=store,
        catalog=SharedCatalog(),
        output_retention=timedelta(days=7),
        clock=lambda: now[0],
    )
    reads: list[str] = []
    get = store.get_execution

    async def counted(*, org_id: str, execution_id: str) -> ExecutionRecord | None:
        reads.append(execution_id)
        return await get(org_id=org_id, execution_id=execution_id)

    store.get_execution = counted  # type: ignore[method-assign]
    assert await ledger.record_results([result("c1"), result("c2")]) == 2
    [answer] = await ledger.record_and_read([result("c1", status="failed")])
    assert (answer.status, reads) == ("succeeded", [])  # the consumer's record, as inserted
    now[0] += timedelta(minutes=11)
    [answer] = await ledger.record_and_read([result("c2", status="failed")])
    assert (answer.status, reads) == ("succeeded", ["c2"])  # remembered too long ago: read
    other = Ledger(store=store, catalog=SharedCatalog(), output_retention=timedelta(days=7))
    [answer] = await other.record_and_read([result("c1", status="failed")])
    assert (answer.status, reads) == ("succeeded", ["c2", "c1"])  # another replica reads


async def test_results_inserted_here_lately_are_not_inserted_again() -> None:
    """The Kafka consumer sees every result the gateway recorded through this process: those
    are not sent to the store again (nor counted as new)."""
    ledger, store = make_ledger()
    writes: list[list[str]] = []
    insert = store.insert_finished

    async def counted(*, records: Sequence[ExecutionRecord]) -> list[ExecutionRecord]:
        writes.append([r.execution_id for r in records])
        return await insert(records=records)

    store.insert_finished = counted  # type: ignore[method-assign]
    await ledger.record_and_read([result("r1"), result("r2")])
    assert await ledger.record_results([result("r1"), result("r2"), result("r3")]) == 1
    assert await ledger.record_results([result("r1")]) == 0
    assert writes == [["r1", "r2"], ["r3"]]
