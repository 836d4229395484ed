"""Which of a workspace's keys an execution gets: the routing strategy per provider.

Pure rules (the only state is the round-robin position, held by `Rotations` and passed in).
`ordered` takes the first usable key in assignment order; `round_robin` spreads executions
over the usable keys by weight with smooth weighted round robin (nginx's algorithm): over
any run of executions each key's share stays within one pick of its weight, on every
keyvault replica on its own, so N replicas together stay within N picks per key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

from keyvault.domain.model import ProviderKey
from shared.contracts import ProviderRouting

ORDERED = ProviderRouting()
DEFAULT_WEIGHT = 1


def usable(
    candidates: Sequence[ProviderKey], *, provider: str, skip: set[str]
) -> list[ProviderKey]:
    """The live keys of `provider` in assignment order, without those in `skip`."""
    return [
        k
        for k in candidates
        if k.status == "active" and k.provider == provider and k.id not in skip
    ]


def smooth_weighted_pick(
    current: Mapping[str, int], weights: Mapping[str, int]
) -> tuple[str, dict[str, int]]:
    """One step of smooth weighted round robin over `weights` (key id -> weight ≥ 1, in
    assignment order): every key gains its weight, the highest current value wins (ties go
    to the earlier key) and pays back the total. Returns the winner and the new state."""
    total = sum(weights.values())
    state = {key_id: current.get(key_id, 0) + weight for key_id, weight in weights.items()}
    winner = max(state, key=lambda key_id: state[key_id])  # first maximum: assignment order
    state[winner] -= total
    return winner, state


def choose_key(
    *,
    candidates: Sequence[ProviderKey],
    provider: str,
    skip: set[str],
    routing: ProviderRouting | None = None,
    rotation: dict[str, int] | None = None,
) -> ProviderKey | None:
    """The key for one execution, or None when every key of `provider` was skipped.

    `rotation` is the round-robin state of this (org, workspace, provider); it is updated in
    place when the strategy is `round_robin`. Failover is unchanged: a key the runner skips
    (it answered 401/429) is never chosen again for that execution.
    """
    keys = usable(candidates, provider=provider, skip=skip)
    if not keys:
        return None
    rule = routing or ORDERED
    if rule.strategy == "ordered" or len(keys) == 1 or rotation is None:
        return keys[0]
    weights = {k.id: rule.weights.get(k.id, DEFAULT_WEIGHT) for k in keys}
    winner, state = smooth_weighted_pick(rotation, weights)
    # Keys that were not candidates this time keep their position.
    rotation.update(state)
    return next(k for k in keys if k.id == winner)


class Rotations:
    """Round-robin positions per (org, workspace, provider), in memory, bounded (LRU).

    Losing them (a restart, an evicted entry) only restarts the rotation: the balance over
    the next executions is as good as ever.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._state: OrderedDict[tuple[str, str, str], dict[str, int]] = OrderedDict()

    def of(self, org_id: str, workspace_id: str, provider: str) -> dict[str, int]:
        """The (mutable) rotation state of one workspace's keys of one provider."""
        key = (org_id, workspace_id, provider)
        state = self._state.get(key)
        if state is None:
            state = {}
            self._state[key] = state
            if len(self._state) > self._max:
                self._state.popitem(last=False)
        else:
            self._state.move_to_end(key)
        return state

    def forget(self, workspace_id: str) -> None:
        """Drop a workspace's positions (its routing or keys changed)."""
        for key in [k for k in self._state if k[1] == workspace_id]:
            del self._state[key]
