"""Which results of a spend batch keyvault settles, and which it looks up in its markers.

Every execution's cost is counted once. The markers (one per execution ever settled) answer
"settled before?" with one store read per result; most results cannot have been settled
before, so only those that can are looked up: a record the consumer may be reading again
(no settled offset for its partition yet, or a failed settlement of it in this process),
and a result the runner marked as published again.
"""

from __future__ import annotations

from keyvault.domain.budgets import Delivery, SettlementPlan, plan_settlement
from shared.contracts import ExecutionResult

P0, P1 = "keyvault-spend|agent.execution.result.v1|0", "keyvault-spend|agent.execution.result.v1|1"


def result(execution_id: str) -> ExecutionResult:
    return ExecutionResult(
        execution_id=execution_id,
        org_id="org-a",
        workspace_id="ws-1",
        status="succeeded",
        model="claude-sonnet-4-6",
        provider="anthropic",
        key_id="k1",
        attempts=1,
        duration_ms=5,
    )


def at(stream: str, offset: int, execution_id: str, *, republished: bool = False) -> Delivery:
    return Delivery(
        result=result(execution_id), stream=stream, offset=offset, republished=republished
    )


def looked_up(plan: SettlementPlan) -> dict[str, bool]:
    return {r.execution_id: maybe for r, maybe in plan.settle}


def test_results_past_the_settled_offset_settle_without_a_look_up() -> None:
    plan = plan_settlement([at(P0, 11, "e11"), at(P0, 12, "e12")], {P0: 10}, set())
    assert looked_up(plan) == {"e11": False, "e12": False}
    assert plan.settled_up_to == {P0: 12}


def test_records_read_again_are_skipped_and_the_offset_never_goes_back() -> None:
    # The consumer restarted from an older committed offset: 9 and 10 were settled.
    plan = plan_settlement([at(P0, 9, "e9"), at(P0, 10, "e10"), at(P0, 11, "e11")], {P0: 10}, set())
    assert looked_up(plan) == {"e11": False}
    assert plan.settled_up_to == {P0: 11}
    again = plan_settlement([at(P0, 9, "e9")], {P0: 10}, set())
    assert again.settle == []
    assert again.settled_up_to == {P0: 9}  # the store keeps the larger one ($max)


def test_a_result_the_runner_published_again_is_looked_up() -> None:
    plan = plan_settlement([at(P0, 11, "e5", republished=True), at(P0, 12, "e12")], {P0: 10}, set())
    assert looked_up(plan) == {"e5": True, "e12": False}


def test_a_stream_without_a_settled_offset_is_looked_up_whole() -> None:
    """The first batch of a partition, or the first after an upgrade from a version that
    kept markers only: its records may have been settled without an offset."""
    plan = plan_settlement([at(P0, 3, "e3"), at(P1, 7, "e7")], {P1: 6}, set())
    assert looked_up(plan) == {"e3": True, "e7": False}
    assert plan.settled_up_to == {P0: 3, P1: 7}


def test_a_stream_whose_settlement_failed_here_is_looked_up_until_one_settles() -> None:
    plan = plan_settlement([at(P0, 11, "e11"), at(P1, 4, "e4")], {P0: 10, P1: 3}, {P0})
    assert looked_up(plan) == {"e11": True, "e4": False}
