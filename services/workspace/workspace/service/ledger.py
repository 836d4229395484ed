"""The usage ledger: one record per execution, aggregates, and the monthly totals."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from shared.batching import GroupCommit
from shared.contracts import ExecutionRequested, ExecutionResult, utcnow
from shared.paging import InvalidCursorError as MalformedCursor
from shared.paging import decode_cursor, encode_cursor
from workspace.domain import (
    Catalog,
    ExecutionRecord,
    GroupBy,
    Interval,
    InvalidCursorError,
    InvalidInputError,
    LedgerStore,
    NotFoundError,
    Totals,
    UsageRow,
    UsageSum,
    as_utc,
    month_start,
    next_month,
    split_window,
)

# Finished records remembered as inserted (enough to bridge the gateway's recording of a
# result and the Kafka consumer's, which race), and the largest output remembered.
REMEMBERED_RECORDS = 4096
REMEMBERED_OUTPUT_MAX = 8192
REMEMBERED_FOR = timedelta(minutes=10)

# `/usage` without `since` covers this far back (month documents: one read per month).
USAGE_LOOKBACK = timedelta(days=5 * 366)


def _group_of(group_by: GroupBy, key_id: str | None, workspace_id: str, model: str) -> str | None:
    return {"key": key_id, "workspace": workspace_id, "model": model}[group_by]


class Ledger:
    """Records executions idempotently and answers usage questions."""

    def __init__(
        self,
        *,
        store: LedgerStore,
        catalog: Catalog,
        output_retention: timedelta,
        price_of: Callable[[str, int, int], float | None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.output_retention = output_retention
        self.price_of = price_of
        self.clock = clock
        # Results the gateway records (its test runs) are written together, as the Kafka
        # consumer's batches are: one insert and one rollup update per batch, not per run.
        self._recording: GroupCommit[ExecutionResult, ExecutionRecord | None] = GroupCommit(
            self._record_batch
        )
        # The records this process inserted last, as stored (a finished record never
        # changes): a result the gateway records after the Kafka consumer here recorded it is
        # answered from this, not read back. Small outputs only; a miss reads the store.
        self._inserted: OrderedDict[tuple[str, str], tuple[datetime, ExecutionRecord]] = (
            OrderedDict()
        )

    def finished_record(self, event: ExecutionResult) -> ExecutionRecord:
        """The ledger record of a finished execution (pure; nothing is written)."""
        finished_at = as_utc(event.occurred_at) or self.clock()
        usage = event.usage
        error = event.error
        cost = usage.cost_usd if usage else None
        if usage is not None and cost is None and self.price_of is not None:
            # The runner had no price; use ours when configured, never an invented one.
            cost = self.price_of(event.model, usage.input_tokens, usage.output_tokens)
        return ExecutionRecord(
            execution_id=event.execution_id,
            org_id=event.org_id,
            workspace_id=event.workspace_id,
            status=event.status,
            model=event.model,
            provider=event.provider or self.catalog.provider_of(event.model),
            key_id=event.key_id,
            output_text=event.output.text if event.output else None,
            finish_reason=event.output.finish_reason if event.output else None,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cost_usd=cost,
            error_code=error.code.value if error else None,
            error_message=error.message if error else None,
            error_retryable=error.retryable if error else None,
            duration_ms=event.duration_ms,
            attempts=event.attempts,
            finished_at=finished_at,
            output_expires_at=(finished_at + self.output_retention) if event.output else None,
        )

    def queued_record(self, event: ExecutionRequested) -> ExecutionRecord:
        """The ledger record of a queued execution (pure; nothing is written)."""
        return ExecutionRecord(
            execution_id=event.execution_id,
            org_id=event.org_id,
            workspace_id=event.workspace_id,
            status="queued",
            model=event.model,
            provider=self.catalog.provider_of(event.model),
            requested_at=as_utc(event.occurred_at),
        )

    async def record_results(self, events: Sequence[ExecutionResult]) -> int:
        """Record finished executions in one write; returns how many were new.

        An execution already recorded (in this batch or before) is not counted again:
        the first result wins. Execution ids are scoped by org: the same id in two orgs is
        two executions.
        """
        return len(await self._insert_results(events))

    async def _insert_results(
        self, events: Sequence[ExecutionResult]
    ) -> dict[tuple[str, str], ExecutionRecord]:
        """Insert the first result of each (org, execution); the records this call inserted,
        as stored, by (org_id, execution_id). One this process inserted lately is not sent
        again (the Kafka consumer sees every result the gateway recorded here, and FerretDB
        spends as much on a refused duplicate as on an insert)."""
        records: dict[tuple[str, str], ExecutionRecord] = {}
        for event in events:  # execution ids are scoped by org
            key = (event.org_id, event.execution_id)
            if key not in self._inserted:  # else inserted here before: surely a duplicate
                records.setdefault(key, self.finished_record(event))
        if not records:
            return {}
        new = await self.store.insert_finished(records=list(records.values()))
        inserted = {(r.org_id, r.execution_id): r for r in new}
        now = self.clock()
        for key, record in inserted.items():
            if len(record.output_text or "") <= REMEMBERED_OUTPUT_MAX:
                self._inserted[key] = (now, record)
        while len(self._inserted) > REMEMBERED_RECORDS:
            self._inserted.popitem(last=False)
        return inserted

    async def record_requests(self, events: Sequence[ExecutionRequested]) -> int:
        """Record queued executions in one write; returns how many queued records were new.

        A queued record never hides a finished one: reads prefer the finished record.
        """
        records: dict[tuple[str, str], ExecutionRecord] = {}
        for event in events:
            records.setdefault((event.org_id, event.execution_id), self.queued_record(event))
        if not records:
            return 0
        return await self.store.insert_queued(records=list(records.values()))

    async def record_result(self, event: ExecutionResult) -> bool:
        """Record a finished execution; False when it was already recorded (duplicate)."""
        return await self.record_results([event]) == 1

    async def record_requested(self, event: ExecutionRequested) -> bool:
        """Record a queued execution; False when any record of it exists already."""
        existing = await self.store.get_execution(
            org_id=event.org_id, execution_id=event.execution_id
        )
        if existing is not None:
            return False
        return await self.record_requests([event]) == 1

    async def record_and_read(self, events: Sequence[ExecutionResult]) -> list[ExecutionRecord]:
        """Record results a caller already holds (the gateway's test runs) and answer, in
        order, what the ledger holds for each execution, so every later read agrees with what
        that caller shows. Written together with whatever else is being recorded."""
        return list(await asyncio.gather(*(self._record_one(e) for e in events)))

    async def _record_one(self, event: ExecutionResult) -> ExecutionRecord:
        """The record this call inserted, or (an earlier result won) the one read back."""
        inserted = await self._recording.submit(event)
        if inserted is not None:
            return inserted  # what this call stored is what the ledger holds: no read back
        earlier = self._inserted.get((event.org_id, event.execution_id))
        if earlier is not None and self.clock() - earlier[0] < REMEMBERED_FOR:
            return earlier[1]  # recorded here just before (from Kafka, or an earlier call)
        return await self.execution(event.org_id, event.execution_id)

    async def _record_batch(self, events: list[ExecutionResult]) -> list[ExecutionRecord | None]:
        """One insert for the batch; each event's record when the batch inserted that event
        (the first of its execution), else None (recorded before, or a duplicate in it)."""
        new = await self._insert_results(events)
        return [
            new.pop((e.org_id, e.execution_id), None)  # only the first event gets the record
            for e in events
        ]

    async def recent(
        self, org_id: str, workspace_id: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[ExecutionRecord], str | None]:
        """One page of the workspace's executions, newest first, and the next page's cursor."""
        try:
            before = decode_cursor(cursor) if cursor else None
        except MalformedCursor as exc:
            raise InvalidCursorError(str(exc)) from None
        records = await self.store.recent(
            org_id=org_id,
            workspace_id=workspace_id,
            limit=limit + 1,
            before=(before.at, before.id) if before else None,
        )
        if len(records) <= limit:
            return records, None
        last = records[limit - 1]
        return records[:limit], encode_cursor(last.at or self.clock(), last.execution_id)

    async def execution(self, org_id: str, execution_id: str) -> ExecutionRecord:
        """One execution of the org, or NotFoundError."""
        record = await self.store.get_execution(org_id=org_id, execution_id=execution_id)
        if record is None:
            raise NotFoundError(f"execution {execution_id!r} not found")
        return record

    async def usage(
        self,
        org_id: str,
        group_by: GroupBy,
        since: datetime | None = None,
        until: datetime | None = None,
        interval: Interval | None = None,
    ) -> list[UsageRow]:
        """Executions, tokens and cost per key, workspace or model finished in [since, until);
        with `interval="day"`, per group and UTC day (oldest day first).

        Whole UTC days come from the daily rollups; only a part of a day at either end of
        the window is added up from its records (at most a day's worth each)."""
        since, until = as_utc(since), as_utc(until)
        if since is not None and until is not None and since > until:
            raise InvalidInputError("since: must not be after until")
        by_day = interval == "day"
        sums: dict[tuple[str | None, date | None], UsageSum] = {}
        window = split_window(since, until)
        if window.whole_days is not None:
            first_day, end_day = window.whole_days
            today = self.clock().astimezone(UTC).date()
            # Usage is reported for the last five years at most, and none can lie in the
            # future (two days of clock skew allowed): the rollups read stay bounded whatever
            # window is asked for (a window of centuries reads what these five years hold).
            oldest, newest = today - USAGE_LOOKBACK, today + timedelta(days=2)
            first_day = max(first_day or oldest, oldest)
            end_day = min(end_day or newest, newest)
            daily = (
                await self.store.daily_between(
                    org_id=org_id, first_day=first_day, end_day=end_day, by_day=by_day
                )
                if first_day < end_day
                else []
            )
            for row in daily:
                group = _group_of(group_by, row.key_id, row.workspace_id, row.model)
                key = (group, row.day if by_day else None)
                sums.setdefault(key, UsageSum()).add_daily(row)
        for part_since, part_until in window.partial:
            async for fact in self.store.finished_between(
                org_id=org_id, since=part_since, until=part_until
            ):
                group = _group_of(group_by, fact.key_id, fact.workspace_id, fact.model)
                finished = as_utc(fact.finished_at)
                day = finished.date() if by_day and finished is not None else None
                sums.setdefault((group, day), UsageSum()).add(fact)
        rows = [
            UsageRow(
                group=group,
                day=day,
                executions=s.executions,
                input_tokens=s.input_tokens,
                output_tokens=s.output_tokens,
                cost_usd=s.cost_usd,
            )
            for (group, day), s in sums.items()
            if s.executions
        ]
        rows.sort(key=lambda r: (r.day or date.min, -r.executions, r.group or ""))
        return rows

    async def month_spend_by_workspace(self, org_id: str) -> dict[str, float]:
        """Each workspace's cost this UTC calendar month (the ledger is the source of truth
        for spend; keyvault's budget counters are fed by the same results)."""
        start = month_start(self.clock())
        rows = await self.usage(org_id, "workspace", since=start, until=next_month(start))
        return {r.group: r.cost_usd or 0.0 for r in rows if r.group is not None}

    async def month_totals(self, org_id: str) -> Totals:
        """Executions and cost of the current UTC calendar month (from the daily rollups)."""
        start = month_start(self.clock())
        total = UsageSum()
        for row in await self.store.daily_between(
            org_id=org_id, first_day=start.date(), end_day=next_month(start).date(), by_day=False
        ):
            total.add_daily(row)
        cost = total.cost_usd
        return Totals(executions=total.executions, cost_usd=0.0 if cost is None else cost)

    async def prune_outputs(self) -> int:
        """Drop output texts older than the retention; returns how many were dropped."""
        return await self.store.prune_outputs(now=self.clock())
