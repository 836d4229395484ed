"""The simulator's key markers."""

from __future__ import annotations

from deploy.local.simulator.behaviour import behaviour_for, fingerprint


def test_markers() -> None:
    assert behaviour_for("k-fail401-x", first_call=True).status == 401
    assert behaviour_for("k-always429", first_call=False).status == 429
    assert behaviour_for("k-rate429", first_call=True).status == 429
    assert behaviour_for("k-rate429", first_call=False).status == 200
    assert behaviour_for("k-fail500", first_call=True).status == 500
    slow = behaviour_for("k-slow250ms-x", first_call=True)
    assert (slow.status, slow.extra_latency_ms) == (200, 250)
    assert behaviour_for("plain", first_call=True).status == 200


def test_fingerprint_keeps_only_hash_and_last4() -> None:
    digest, last4 = fingerprint("sk-secret-value-1234")
    assert len(digest) == 64
    assert last4 == "1234"
