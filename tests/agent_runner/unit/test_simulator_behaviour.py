"""The simulator's key markers."""

from __future__ import annotations

from deploy.local.simulator.behaviour import behaviour_for, fingerprint, huge_text


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


def test_bad_body_and_huge_markers() -> None:
    for kind in ("nulltext", "list", "usage"):
        behaviour = behaviour_for(f"k-badbody-{kind}-x", first_call=True)
        assert (behaviour.status, behaviour.bad_body, behaviour.reply_kb) == (200, kind, 0)
    huge = behaviour_for("k-huge1200kb-x", first_call=False)
    assert (huge.status, huge.bad_body, huge.reply_kb) == (200, None, 1200)
    assert len(huge_text(3)) == 3 * 1024
    plain = behaviour_for("plain", first_call=True)
    assert (plain.bad_body, plain.reply_kb) == (None, 0)
