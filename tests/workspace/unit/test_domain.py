"""Unit tests of the workspace domain with the in-memory stores (no network)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from shared.contracts import ExecutionRequested, ExecutionResult, PlanLimits
from shared.plans import DEFAULT_PLAN, DEFAULT_PLANS, parse_plans
from tests.workspace.fakes import InMemoryLedgerStore, InMemoryWorkspaceStore
from tests.workspace.support import (
    FakeConfirmer,
    RecordingPublisher,
    key_event,
    requested_event,
    result_event,
)
from workspace.domain import (
    InvalidInputError,
    KeyDirectory,
    KeyInfo,
    NameTakenError,
    NotFoundError,
    PlanLimitReachedError,
    UnknownAIProviderError,
    UnknownPlanError,
    month_start,
    next_month,
)
from workspace.service import Ledger, SharedCatalog, WorkspaceService


def make_service(
    plans: dict[str, PlanLimits] | None = None,
) -> tuple[WorkspaceService, InMemoryWorkspaceStore, RecordingPublisher, FakeConfirmer]:
    store, pub, conf = InMemoryWorkspaceStore(), RecordingPublisher(), FakeConfirmer()
    svc = WorkspaceService(
        store=store,
        publisher=pub,
        keys=KeyDirectory(),
        confirmer=conf,
        catalog=SharedCatalog(),
        plans=plans or dict(DEFAULT_PLANS),
        default_plan=DEFAULT_PLAN,
    )
    return svc, store, pub, conf


async def test_org_is_created_on_first_use_with_default_plan_and_published() -> None:
    svc, _, pub, _ = make_service()
    org, limits = await svc.plan_of("org-a")
    await svc.plan_of("org-a")
    assert org.plan == "starter"
    assert limits == PlanLimits(provider_keys=3, workspaces=3)
    assert [(p.org_id, p.plan) for p in pub.plans] == [("org-a", "starter")]


async def test_plan_change_publishes_and_unknown_plan_refused() -> None:
    svc, _, pub, _ = make_service()
    org, limits = await svc.set_plan("org-a", "team")
    assert (org.plan, limits.workspaces, limits.provider_keys) == ("team", 25, 10)
    assert pub.plans[-1].plan == "team"
    with pytest.raises(UnknownPlanError):
        await svc.set_plan("org-a", "platinum")


async def test_workspace_limit_and_names() -> None:
    svc, _, _, _ = make_service()
    await svc.create_workspace("org-a", "  One ")
    with pytest.raises(NameTakenError):
        await svc.create_workspace("org-a", "one")
    await svc.create_workspace("org-a", "Two")
    await svc.create_workspace("org-a", "Three")
    with pytest.raises(PlanLimitReachedError):
        await svc.create_workspace("org-a", "Four")
    with pytest.raises(InvalidInputError):
        await svc.create_workspace("org-b", "x" * 65)
    with pytest.raises(InvalidInputError):
        await svc.create_workspace("org-b", "   ")
    names = [w.name for w in await svc.list_workspaces("org-a")]
    assert names == ["One", "Two", "Three"]


async def test_workspace_limit_exact_under_concurrency_in_memory() -> None:
    svc, _, _, _ = make_service()
    results = await asyncio.gather(
        *(svc.create_workspace("org-a", f"w{i}") for i in range(12)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 3


async def test_delete_frees_slot_and_name_and_publishes_deleted() -> None:
    svc, _, pub, _ = make_service()
    ws = await svc.create_workspace("org-a", "A")
    await svc.delete_workspace("org-a", ws.id)
    assert pub.assignments[-1].deleted is True
    with pytest.raises(NotFoundError):
        await svc.get_workspace("org-a", ws.id)
    with pytest.raises(NotFoundError):
        await svc.delete_workspace("org-a", ws.id)
    for name in ("A", "B", "C"):
        await svc.create_workspace("org-a", name)


async def test_assignments_are_validated_ordered_and_models_follow() -> None:
    svc, _, pub, _ = make_service()
    for ev in (
        key_event("k-ant", "org-a", "anthropic"),
        key_event("k-oai", "org-a", "openai"),
        key_event("k-foreign", "org-b", "google"),
        key_event("k-gone", "org-a", "google", status="deleted"),
    ):
        await svc.on_key_changed(ev)
    ws = await svc.create_workspace("org-a", "A")
    assert await svc.models("org-a", ws.id) == []
    await svc.update_workspace("org-a", ws.id, key_ids=["k-ant"])
    assert {m.provider for m in await svc.models("org-a", ws.id)} == {"anthropic"}
    updated = await svc.update_workspace("org-a", ws.id, key_ids=["k-oai", "k-ant"])
    assert updated.key_ids == ("k-oai", "k-ant")
    models = await svc.models("org-a", ws.id)
    catalog_order = [m.id for p in SharedCatalog.providers for m in p.models]
    assert [m.id for m in models] == [m for m in catalog_order if not m.startswith("gemini")]
    assert pub.assignments[-1].key_ids == ["k-oai", "k-ant"]
    for bad in ("k-foreign", "k-gone", "k-nowhere"):
        with pytest.raises(UnknownAIProviderError) as err:
            await svc.update_workspace("org-a", ws.id, key_ids=["k-ant", bad])
        assert bad in str(err.value)
    with pytest.raises(InvalidInputError):
        await svc.update_workspace("org-a", ws.id, key_ids=["k-ant", "k-ant"])
    assert (await svc.get_workspace("org-a", ws.id)).key_ids == ("k-oai", "k-ant")


async def test_read_model_miss_is_confirmed_with_keyvault() -> None:
    svc, _, _, conf = make_service()
    conf.known["k-new"] = KeyInfo("k-new", "org-a", "google", "active")
    ws = await svc.create_workspace("org-a", "A")
    await svc.update_workspace("org-a", ws.id, key_ids=["k-new"])
    assert conf.calls == ["k-new"]
    assert [m.provider for m in await svc.models("org-a", ws.id)] == ["google"] * 3


async def test_deleted_key_leaves_every_workspace() -> None:
    svc, _, pub, _ = make_service()
    await svc.on_key_changed(key_event("k1", "org-a"))
    await svc.on_key_changed(key_event("k2", "org-a", "openai"))
    a = await svc.create_workspace("org-a", "A")
    b = await svc.create_workspace("org-a", "B")
    await svc.update_workspace("org-a", a.id, key_ids=["k1", "k2"])
    await svc.update_workspace("org-a", b.id, key_ids=["k1"])
    await svc.on_key_changed(key_event("k1", "org-a", status="deleted"))
    assert (await svc.get_workspace("org-a", a.id)).key_ids == ("k2",)
    assert (await svc.get_workspace("org-a", b.id)).key_ids == ()
    last = {e.workspace_id: e.key_ids for e in pub.assignments}
    assert last == {a.id: ["k2"], b.id: []}
    # A stale "active" replay after the deletion cannot revive the key.
    await svc.on_key_changed(key_event("k1", "org-a"))
    with pytest.raises(UnknownAIProviderError):
        await svc.update_workspace("org-a", a.id, key_ids=["k1"])


async def test_failed_publish_is_retried() -> None:
    svc, store, pub, _ = make_service()
    pub.fail = True
    ws = await svc.create_workspace("org-a", "A")
    assert store.publish_pending == {ws.id}
    pub.fail = False
    await svc.retry_pending()
    assert store.publish_pending == set()
    assert [e.workspace_id for e in pub.assignments] == [ws.id]
    assert [p.org_id for p in pub.plans] == ["org-a"]


async def test_cross_org_workspace_is_not_found() -> None:
    svc, _, _, _ = make_service()
    ws = await svc.create_workspace("org-a", "A")
    with pytest.raises(NotFoundError):
        await svc.get_workspace("org-b", ws.id)
    with pytest.raises(NotFoundError):
        await svc.update_workspace("org-b", ws.id, name="x")
    with pytest.raises(NotFoundError):
        await svc.delete_workspace("org-b", ws.id)


def test_plans_from_configuration() -> None:
    plans = parse_plans('{"starter": {"provider_keys": 1, "workspaces": 2}}')
    assert plans == {"starter": PlanLimits(provider_keys=1, workspaces=2)}


# --- ledger -------------------------------------------------------------------------------


def make_ledger(now: datetime | None = None) -> tuple[Ledger, InMemoryLedgerStore]:
    store = InMemoryLedgerStore()
    clock = (lambda: now) if now else (lambda: datetime.now(UTC))
    ledger = Ledger(
        store=store, catalog=SharedCatalog(), output_retention=timedelta(days=7), clock=clock
    )
    return ledger, store


def result(execution_id: str, org: str = "org-a", **kw: object) -> ExecutionResult:
    return ExecutionResult.model_validate(result_event(execution_id, org, **kw))  # type: ignore[arg-type]


async def test_ledger_counts_duplicates_once_and_aggregates() -> None:
    ledger, _ = make_ledger()
    assert await ledger.record_result(result("e1", key_id="k1", cost=0.5))
    assert not await ledger.record_result(result("e1", key_id="k1", cost=0.5))
    await ledger.record_result(result("e2", key_id="k1", model="gpt-5", cost=None))
    await ledger.record_result(result("e3", key_id="k2", model="gpt-5", cost=None))
    await ledger.record_result(result("e4", "org-b", key_id="k9"))
    by_key = {r.group: r for r in await ledger.usage("org-a", "key")}
    assert by_key["k1"].executions == 2
    assert by_key["k1"].input_tokens == 20
    assert by_key["k1"].cost_usd == 0.5
    assert by_key["k2"].cost_usd is None  # never invented
    by_model = {r.group: r.executions for r in await ledger.usage("org-a", "model")}
    assert by_model == {"claude-sonnet-4-6": 1, "gpt-5": 2}
    with pytest.raises(InvalidInputError):
        await ledger.usage(
            "org-a", "key", since=datetime(2030, 1, 1, tzinfo=UTC), until=datetime(2020, 1, 1)
        )


async def test_queued_never_overwrites_a_finished_record() -> None:
    ledger, _ = make_ledger()
    req = ExecutionRequested.model_validate(requested_event("e1", "org-a"))
    assert await ledger.record_requested(req)
    assert (await ledger.execution("org-a", "e1")).status == "queued"
    await ledger.record_result(result("e1", status="failed"))
    assert not await ledger.record_requested(req)
    record = await ledger.execution("org-a", "e1")
    assert (record.status, record.error_code) == ("failed", "provider_auth_failed")
    with pytest.raises(NotFoundError):
        await ledger.execution("org-b", "e1")


async def test_month_totals_use_the_utc_calendar_month() -> None:
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    ledger, _ = make_ledger(now)
    await ledger.record_result(
        result("in", cost=0.25, occurred_at=datetime(2026, 3, 1, tzinfo=UTC))
    )
    await ledger.record_result(
        result("before", cost=1.0, occurred_at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC))
    )
    totals = await ledger.month_totals("org-a")
    assert (totals.executions, totals.cost_usd) == (1, 0.25)
    assert month_start(datetime(2026, 12, 31, 23, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)
    assert next_month(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)


async def test_outputs_are_pruned_after_retention() -> None:
    ledger, store = make_ledger(datetime.now(UTC) + timedelta(days=8))
    await ledger.record_result(result("old"))
    assert await ledger.prune_outputs() == 1
    assert store.finished[("org-a", "old")].output_text is None
    assert store.finished[("org-a", "old")].input_tokens == 10


async def test_missing_cost_is_priced_from_the_table_only_when_configured() -> None:
    store = InMemoryLedgerStore()
    ledger = Ledger(
        store=store,
        catalog=SharedCatalog(),
        output_retention=timedelta(days=7),
        price_of=lambda model, i, o: 1.0 if model == "gpt-5" else None,
    )
    await ledger.record_result(result("a", model="gpt-5", cost=None))
    await ledger.record_result(result("b", model="o4-mini", cost=None))
    assert store.finished[("org-a", "a")].cost_usd == 1.0
    assert store.finished[("org-a", "b")].cost_usd is None


async def test_two_orgs_using_the_same_execution_id_each_read_their_own() -> None:
    ledger, _ = make_ledger()
    req = ExecutionRequested.model_validate(requested_event("shared", "org-b"))
    assert await ledger.record_requested(req)
    mine = result("shared", "org-a", key_id="key-a", cost=0.5)
    theirs = result("shared", "org-b", key_id="key-b", cost=0.25, status="failed")
    assert await ledger.record_results([mine, theirs, mine]) == 2  # one batch, two orgs
    a = await ledger.execution("org-a", "shared")
    b = await ledger.execution("org-b", "shared")
    assert (a.org_id, a.key_id, a.status, a.output_text) == ("org-a", "key-a", "succeeded", "Hi.")
    assert (b.org_id, b.key_id, b.status, b.output_text) == ("org-b", "key-b", "failed", None)
    assert (await ledger.month_totals("org-a")).executions == 1
    assert (await ledger.month_totals("org-b")).executions == 1
    assert [r.group for r in await ledger.usage("org-b", "key")] == ["key-b"]
    assert not await ledger.record_requested(req)
    (page, _cursor) = await ledger.recent("org-b", "ws-1", limit=10)
    assert [(r.org_id, r.status) for r in page] == [("org-b", "failed")]


def test_a_usage_window_splits_into_whole_days_and_part_days() -> None:
    from datetime import date

    from workspace.domain import split_window

    d1, d3 = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
    h = timedelta(hours=5)
    whole = split_window(d1, d3)
    assert (whole.whole_days, whole.partial) == ((date(2026, 11, 1), date(2026, 11, 3)), ())
    cut = split_window(d1 + h, d3 + h)
    assert cut.whole_days == (date(2026, 11, 2), date(2026, 11, 3))
    assert cut.partial == ((d1 + h, d1 + timedelta(days=1)), (d3, d3 + h))
    inside = split_window(d1 + h, d1 + 2 * h)
    assert (inside.whole_days, inside.partial) == (None, ((d1 + h, d1 + 2 * h),))
    assert split_window(None, None).whole_days == (None, None)
    assert split_window(None, d3 + h).partial == ((d3, d3 + h),)
