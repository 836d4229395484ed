"""`python -m keyvault keyring new`: a fresh keyring entry on stdout, never in a log."""

from __future__ import annotations

import base64
import logging

import pytest

from keyvault.__main__ import main
from keyvault.service.envelope import parse_keyring


def test_keyring_new_prints_one_entry_and_logs_nothing(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert main(["keyring", "new"]) == 0
    printed = capsys.readouterr()
    entry = printed.out.strip()
    version, _, encoded = entry.partition(":")
    assert len(base64.b64decode(encoded, validate=True)) == 32
    assert not version.startswith("dev-")
    assert parse_keyring(entry).active_version == version
    assert encoded not in printed.err
    assert all(encoded not in r.getMessage() for r in caplog.records)
    again = main(["keyring", "new"])
    assert again == 0
    assert capsys.readouterr().out.strip() != entry  # fresh every time


def test_keyring_new_rotate_prepends_to_the_current_keyring(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    current = f"old1:{base64.b64encode(b'k' * 32).decode()}"
    monkeypatch.setenv("KEYVAULT_MASTER_KEYS", current)
    assert main(["keyring", "new", "--rotate", "--id", "k2026"]) == 0
    keyring = capsys.readouterr().out.strip()
    first, _, rest = keyring.partition(",")
    assert first.startswith("k2026:")
    assert rest == current
    parsed = parse_keyring(keyring)
    assert parsed.active_version == "k2026"


def test_keyring_new_refuses_a_bad_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keyring", "new", "--id", "no spaces"]) == 2
    assert "id" in capsys.readouterr().err
