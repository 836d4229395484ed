"""The offset tracker: commit only below the lowest unfinished offset, whatever the order."""

from __future__ import annotations

import random

from agent_runner.events.offsets import OffsetTracker


def test_commit_point_waits_for_the_lowest_unfinished_offset() -> None:
    t: OffsetTracker[str] = OffsetTracker()
    for off in range(10, 15):
        assert t.started("p0", off)
    assert t.in_flight == 5
    t.finished("p0", 13)
    t.finished("p0", 11)
    assert t.commit_point("p0") == 10
    t.finished("p0", 10)
    assert t.commit_point("p0") == 12
    t.finished("p0", 12)
    assert t.commit_point("p0") == 14
    t.finished("p0", 14)
    assert t.commit_point("p0") == 15
    assert t.in_flight == 0


def test_random_completion_order_never_commits_past_unfinished_work() -> None:
    rng = random.Random(7)
    t: OffsetTracker[int] = OffsetTracker()
    offsets = {p: list(range(100, 400)) for p in range(3)}
    for p, offs in offsets.items():
        for off in offs:
            t.started(p, off)
    pending = [(p, o) for p, offs in offsets.items() for o in offs]
    rng.shuffle(pending)
    done: set[tuple[int, int]] = set()
    for p, o in pending:
        t.finished(p, o)
        done.add((p, o))
        point = t.commit_point(p)
        assert point is not None
        # Everything below the commit point is finished, and the point itself is not.
        assert all((p, x) in done for x in range(100, point))
        assert point == 400 or (p, point) not in done
    assert t.committable() == {0: 400, 1: 400, 2: 400}
    assert t.in_flight == 0


def test_offsets_with_gaps_commit_past_the_last_seen() -> None:
    t: OffsetTracker[str] = OffsetTracker()
    for off in (5, 9, 20):
        t.started("p", off)
    t.finished("p", 9)
    assert t.commit_point("p") == 5
    t.finished("p", 5)
    assert t.commit_point("p") == 20
    t.finished("p", 20)
    assert t.commit_point("p") == 21


def test_committable_reports_only_progress() -> None:
    t: OffsetTracker[str] = OffsetTracker()
    t.started("a", 0)
    t.started("b", 0)
    t.finished("a", 0)
    assert t.committable() == {"a": 1, "b": 0}
    t.mark_committed({"a": 1, "b": 0})
    assert t.committable() == {}
    t.finished("b", 0)
    assert t.committable() == {"b": 1}
    assert t.committable(["a"]) == {}


def test_refetched_offsets_and_unknown_completions_are_ignored() -> None:
    t: OffsetTracker[str] = OffsetTracker()
    assert t.started("p", 3)
    assert not t.started("p", 3)
    assert not t.started("p", 2)
    t.finished("p", 99)
    t.finished("q", 3)
    assert t.in_flight == 1
    t.finished("p", 3)
    t.finished("p", 3)
    assert t.in_flight == 0
    assert t.commit_point("p") == 4


def test_forget_drops_revoked_partitions_and_their_late_completions() -> None:
    t: OffsetTracker[str] = OffsetTracker()
    t.started("p", 0)
    t.started("p", 1)
    t.started("q", 0)
    t.forget(["p"])
    assert t.in_flight == 1
    assert t.commit_point("p") is None
    t.finished("p", 0)  # a late completion of a revoked partition
    assert t.in_flight == 1
    assert t.partitions() == ["q"]
    # Re-assigned later: starts fresh from what the group committed.
    assert t.started("p", 0)
    assert t.unfinished("p") == 1
