"""Load balancing and test-run bounds of a workspace: routing per provider, max_tokens cap.

Pure rules: the routing a PATCH asks for is checked against the keys assigned to the
workspace (and their providers), and pruned when keys leave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.contracts import (
    PROVIDERS,
    ROUTING_STRATEGIES,
    WEIGHT_MAX,
    WEIGHT_MIN,
    ProviderRouting,
)
from workspace.domain.errors import InvalidInputError

MAX_TOKENS_CAP_MIN = 1
MAX_TOKENS_CAP_MAX = 200_000

Routing = dict[str, ProviderRouting]


def validate_routing(
    raw: Mapping[str, Any], *, key_ids: Sequence[str], provider_of: Callable[[str], str | None]
) -> Routing:
    """The routing asked for, or InvalidInputError naming the first problem.

    `raw` is `{provider: {"strategy": ..., "weights": {key_id: int}?}}`; weights are only for
    `round_robin`, each 1–100, and only for keys of that provider assigned to the workspace.
    """
    routing: Routing = {}
    assigned = set(key_ids)
    for provider, rule in raw.items():
        where = f"routing.{provider}"
        if provider not in PROVIDERS:
            raise InvalidInputError(
                f"routing: unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
            )
        if not isinstance(rule, Mapping):
            raise InvalidInputError(f"{where}: must be an object with a strategy")
        unknown = set(rule) - {"strategy", "weights"}
        if unknown:
            raise InvalidInputError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        strategy = rule.get("strategy", "ordered")
        if strategy not in ROUTING_STRATEGIES:
            raise InvalidInputError(
                f"{where}.strategy: unknown strategy {strategy!r}; expected "
                f"{' or '.join(ROUTING_STRATEGIES)}"
            )
        weights = rule.get("weights") or {}
        if not isinstance(weights, Mapping):
            raise InvalidInputError(f"{where}.weights: must be an object of key id -> weight")
        if weights and strategy != "round_robin":
            raise InvalidInputError(f"{where}.weights: weights apply only to round_robin")
        for key_id, weight in weights.items():
            if key_id not in assigned or provider_of(key_id) != provider:
                raise InvalidInputError(
                    f"{where}.weights: key {key_id!r} is not one of the {provider} keys "
                    "assigned to this workspace"
                )
            if (
                isinstance(weight, bool)
                or not isinstance(weight, int)
                or not WEIGHT_MIN <= weight <= WEIGHT_MAX
            ):
                raise InvalidInputError(
                    f"{where}.weights.{key_id}: must be a whole number {WEIGHT_MIN}–{WEIGHT_MAX}"
                )
        routing[provider] = ProviderRouting(strategy=strategy, weights=dict(weights))
    return routing


def prune_routing(routing: Mapping[str, ProviderRouting], key_ids: Sequence[str]) -> Routing:
    """The routing without weights of keys no longer assigned."""
    assigned = set(key_ids)
    return {
        provider: rule.model_copy(
            update={"weights": {k: w for k, w in rule.weights.items() if k in assigned}}
        )
        for provider, rule in routing.items()
    }


def validate_max_tokens_cap(value: Any) -> int | None:
    """A workspace's cap on `max_tokens` of test runs: null (no cap) or 1–200000."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError("max_tokens_cap: must be a whole number or null")
    if not MAX_TOKENS_CAP_MIN <= value <= MAX_TOKENS_CAP_MAX:
        raise InvalidInputError(
            f"max_tokens_cap: must be {MAX_TOKENS_CAP_MIN}–{MAX_TOKENS_CAP_MAX:,}, or null for "
            "no cap"
        )
    return value


def check_max_tokens(max_tokens: int, cap: int | None) -> None:
    """A test run may not ask for more output tokens than its workspace's cap."""
    if cap is not None and max_tokens > cap:
        raise InvalidInputError(
            f"input.max_tokens: {max_tokens} is above this workspace's cap of {cap} "
            "(max_tokens_cap); ask for at most "
            f"{cap} or raise the cap under Settings → Workspaces"
        )
