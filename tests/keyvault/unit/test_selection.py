"""Key choice by routing strategy: ordered (the default), weighted round robin, failover."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from keyvault.domain import Rotations, choose_key, smooth_weighted_pick
from keyvault.domain.model import ProviderKey
from shared.contracts import ProviderRouting

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def key(key_id: str, provider: str = "anthropic", status: str = "active") -> ProviderKey:
    return ProviderKey(
        id=key_id,
        org_id="org-a",
        provider=provider,  # type: ignore[arg-type]
        name=key_id,
        preview="sk-…abcd",
        status=status,  # type: ignore[arg-type]
        created_at=NOW,
        created_by="u",
    )


KEYS = [key("k1"), key("k2"), key("k3"), key("o1", provider="openai"), key("k4", status="deleted")]


def shares(routing: ProviderRouting, n: int, skip: set[str] | None = None) -> Counter[str]:
    rotation: dict[str, int] = {}
    picked: Counter[str] = Counter()
    for _ in range(n):
        chosen = choose_key(
            candidates=KEYS,
            provider="anthropic",
            skip=skip or set(),
            routing=routing,
            rotation=rotation,
        )
        assert chosen is not None
        picked[chosen.id] += 1
    return picked


def test_ordered_is_the_default_and_takes_the_first_usable_key() -> None:
    assert shares(ProviderRouting(), 10) == Counter({"k1": 10})
    chosen = choose_key(candidates=KEYS, provider="anthropic", skip={"k1"}, rotation={})
    assert chosen is not None
    assert chosen.id == "k2"


def test_round_robin_spreads_1000_executions_evenly_over_3_keys() -> None:
    picked = shares(ProviderRouting(strategy="round_robin"), 1000)
    assert set(picked) == {"k1", "k2", "k3"}
    for count in picked.values():
        assert abs(count / 1000 - 1 / 3) <= 0.05
        assert 333 <= count <= 334  # smooth round robin: within one pick


def test_weighted_round_robin_follows_the_weights() -> None:
    routing = ProviderRouting(strategy="round_robin", weights={"k1": 5, "k2": 3, "k3": 2})
    picked = shares(routing, 1000)
    assert picked == Counter({"k1": 500, "k2": 300, "k3": 200})


def test_round_robin_interleaves_rather_than_bursts() -> None:
    routing = ProviderRouting(strategy="round_robin", weights={"k1": 2, "k2": 1})
    rotation: dict[str, int] = {}
    order = [
        choose_key(
            candidates=KEYS[:2],
            provider="anthropic",
            skip=set(),
            routing=routing,
            rotation=rotation,
        )
        for _ in range(6)
    ]
    assert [k.id for k in order if k] == ["k1", "k2", "k1", "k1", "k2", "k1"]


def test_failover_still_skips_a_refused_key_under_round_robin() -> None:
    picked = shares(ProviderRouting(strategy="round_robin"), 300, skip={"k2"})
    assert set(picked) == {"k1", "k3"}
    assert (
        choose_key(
            candidates=KEYS,
            provider="anthropic",
            skip={"k1", "k2", "k3"},
            routing=ProviderRouting(strategy="round_robin"),
            rotation={},
        )
        is None
    )


def test_smooth_weighted_pick_is_pure() -> None:
    state = {"a": 0, "b": 0}
    winner, after = smooth_weighted_pick(state, {"a": 1, "b": 1})
    assert (winner, after, state) == ("a", {"a": -1, "b": 1}, {"a": 0, "b": 0})


def test_rotations_are_per_workspace_and_provider_and_bounded() -> None:
    rotations = Rotations(max_entries=2)
    first = rotations.of("org-a", "ws-1", "anthropic")
    first["k1"] = 7
    assert rotations.of("org-a", "ws-1", "anthropic") == {"k1": 7}
    assert rotations.of("org-a", "ws-1", "openai") == {}
    rotations.of("org-a", "ws-2", "anthropic")
    assert rotations.of("org-a", "ws-1", "anthropic") == {}  # evicted: the rotation restarts


@pytest.mark.parametrize("replicas", [1, 3])
def test_several_replicas_together_stay_balanced(replicas: int) -> None:
    states: list[dict[str, int]] = [{} for _ in range(replicas)]
    picked: Counter[str] = Counter()
    routing = ProviderRouting(strategy="round_robin")
    for i in range(1000):  # executions land on replicas in no particular order
        chosen = choose_key(
            candidates=KEYS,
            provider="anthropic",
            skip=set(),
            routing=routing,
            rotation=states[(i * 7 + i // 3) % replicas],
        )
        assert chosen is not None
        picked[chosen.id] += 1
    for count in picked.values():
        assert abs(count / 1000 - 1 / 3) <= 0.05
