"""Every event model of shared.contracts validates the committed example events."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared import contracts
from shared.contracts import Event

EXAMPLES = Path(__file__).with_name("examples")
EVENT_MODELS: dict[str, type[Event]] = {
    name: obj
    for name, obj in inspect.getmembers(contracts, inspect.isclass)
    if issubclass(obj, Event) and obj is not Event
}
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def _model_for(path: Path) -> type[Event]:
    return EVENT_MODELS[path.name.split(".")[0]]


def test_every_event_model_has_an_example() -> None:
    covered = {p.name.split(".")[0] for p in EXAMPLE_FILES}
    assert set(EVENT_MODELS) == covered


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_validates_and_round_trips(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    event = _model_for(path).model_validate(raw)
    again = _model_for(path).model_validate_json(event.model_dump_json())
    assert again == event
    known = {k: v for k, v in raw.items() if k in type(event).model_fields}
    dumped = json.loads(event.model_dump_json())
    for field in ("execution_id", "org_id", "workspace_id", "key_id", "status", "model"):
        if field in known:
            assert dumped[field] == known[field]


def test_contract_example_keeps_its_values() -> None:
    event = contracts.ExecutionResult.model_validate_json(
        (EXAMPLES / "ExecutionResult.succeeded.json").read_text(encoding="utf-8")
    )
    assert event.usage is not None
    assert event.usage.cost_usd == pytest.approx(0.000081)
    assert event.output is not None
    assert event.output.finish_reason == "end_turn"
    assert event.occurred_at.utcoffset() is not None


@pytest.mark.parametrize(
    "mutation",
    [
        {"schema_version": 2},
        {"execution_id": ""},
        {"execution_id": "has space"},
        {"input": {"messages": []}},
        {"input": {"messages": [{"role": "system", "content": "x"}]}},
        {"input": {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}},
        {"model": ""},
    ],
)
def test_invalid_requests_are_refused(mutation: dict[str, object]) -> None:
    raw = json.loads((EXAMPLES / "ExecutionRequested.contract.json").read_text(encoding="utf-8"))
    raw.update(mutation)
    with pytest.raises(ValidationError):
        contracts.ExecutionRequested.model_validate(raw)
