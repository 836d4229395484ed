"""The execution handler: claim, execute if new, record, publish; a redelivery republishes."""

from __future__ import annotations

import uuid

from agent_runner.service import ExecutionHandler
from shared.contracts import ErrorCode, ExecutionResult
from tests.agent_runner.fakes import (
    FakeKeyvault,
    InMemoryDedupeStore,
    ListPublisher,
    ScriptedProvider,
    anthropic_ok,
    executor,
    request,
)

KEY = "sk-ant-api03-handlerkeyHHHHHHHHHHHH1111"


async def test_a_new_request_is_executed_recorded_and_published_once() -> None:
    prov = ScriptedProvider([anthropic_ok])
    ex, metrics = executor(FakeKeyvault({"anthropic": [("key-a", KEY)]}), prov)
    store, published = InMemoryDedupeStore(), ListPublisher()
    handler = ExecutionHandler(executor=ex, store=store, publisher=published, metrics=metrics)
    await handler.handle(request())
    assert store.claimed == {("org-a", "exec-1")}
    assert [r.status for r in published.published] == ["succeeded"]
    assert store.results[("org-a", "exec-1")] == published.published[0]
    # Redelivered: the recorded result again, and no second provider call.
    await handler.handle(request())
    assert published.published == [store.results[("org-a", "exec-1")]] * 2
    assert len(prov.requests) == 1
    assert metrics.registry.get_sample_value("flowtrux_runner_redelivered_total") == 1


async def test_a_failure_is_a_published_result() -> None:
    prov = ScriptedProvider([anthropic_ok])
    ex, metrics = executor(FakeKeyvault(), prov)
    published = ListPublisher()
    handler = ExecutionHandler(
        executor=ex, store=InMemoryDedupeStore(), publisher=published, metrics=metrics
    )
    await handler.handle(request())
    (result,) = published.published
    assert result.error is not None
    assert result.error.code == ErrorCode.PROVIDER_NOT_CONFIGURED
    assert prov.requests == []


async def test_the_same_execution_id_in_two_orgs_is_two_executions() -> None:
    prov = ScriptedProvider([anthropic_ok])
    ex, metrics = executor(FakeKeyvault({"anthropic": [("key-a", KEY)]}), prov)
    store, published = InMemoryDedupeStore(), ListPublisher()
    handler = ExecutionHandler(executor=ex, store=store, publisher=published, metrics=metrics)
    await handler.handle(request(org_id="org-a"))
    await handler.handle(request(org_id="org-b"))
    assert [r.org_id for r in published.published] == ["org-a", "org-b"]
    assert published.published[0].event_id != published.published[1].event_id
    assert len(prov.requests) == 2
    assert metrics.registry.get_sample_value("flowtrux_runner_redelivered_total") == 0


async def test_a_result_published_before_is_marked_again_and_a_first_one_is_not() -> None:
    """keyvault's spend looks a result up in its markers only when it is marked (or when it
    may have read the record before itself): a redelivery's recorded result is marked."""
    prov = ScriptedProvider([anthropic_ok])
    ex, metrics = executor(FakeKeyvault({"anthropic": [("key-a", KEY)]}), prov)
    store, published = InMemoryDedupeStore(), ListPublisher()
    handler = ExecutionHandler(executor=ex, store=store, publisher=published, metrics=metrics)
    await handler.handle(request())
    assert published.again == []
    await handler.handle(request())
    assert published.again == ["exec-1"]


async def test_another_runners_result_recorded_first_is_published_marked_again() -> None:
    class OtherRunnerFirst(InMemoryDedupeStore):
        """Another runner (its lease expired under us) recorded its result first."""

        async def put(self, *, result: ExecutionResult) -> ExecutionResult:
            theirs = result.model_copy(update={"event_id": uuid.uuid4()})
            return await super().put(result=theirs)

    prov = ScriptedProvider([anthropic_ok])
    ex, metrics = executor(FakeKeyvault({"anthropic": [("key-a", KEY)]}), prov)
    store, published = OtherRunnerFirst(), ListPublisher()
    handler = ExecutionHandler(executor=ex, store=store, publisher=published, metrics=metrics)
    await handler.handle(request())
    assert published.published == [store.results[("org-a", "exec-1")]]
    assert published.again == ["exec-1"]
