"""Envelope encryption: bindings, tampering, keyring versions, re-wrapping, dev keyring."""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from keyvault.domain import DecryptionFailedError, EncryptedSecret, ProviderKey
from keyvault.service.envelope import (
    KeyringError,
    LocalKeyring,
    decrypt_secret,
    encrypt_secret,
    load_or_create_dev_keyring,
    new_version_entry,
    parse_keyring,
)
from keyvault.service.rewrap import format_report, rewrap_all
from keyvault.settings import KeyvaultSettings
from shared.contracts import utcnow
from shared.crypto import SecretValue
from shared.settings import ProductionSettingsError
from tests.keyvault.fakes import InMemoryKeyStore
from tests.support.prod import PROD_VALUES

SECRET = SecretValue("sk-ant-api03-unit-test-secret-0123456789")
BINDING = {"org_id": "org-a", "key_id": "key_1", "provider": "anthropic"}


@pytest.fixture
def keyring() -> LocalKeyring:
    return LocalKeyring([new_version_entry("v1-")])


def test_round_trip(keyring: LocalKeyring) -> None:
    stored = encrypt_secret(keyring, secret=SECRET, **BINDING)
    assert stored.kek_version == keyring.active_version
    assert SECRET.reveal().encode() not in stored.ciphertext + stored.wrapped_dek
    assert decrypt_secret(keyring, stored, **BINDING) == SECRET


def test_each_secret_gets_its_own_data_key(keyring: LocalKeyring) -> None:
    a = encrypt_secret(keyring, secret=SECRET, **BINDING)
    b = encrypt_secret(keyring, secret=SECRET, **BINDING)
    assert a.wrapped_dek != b.wrapped_dek
    assert a.ciphertext != b.ciphertext


@pytest.mark.parametrize(
    "other",
    [
        {"org_id": "org-b"},
        {"key_id": "key_2"},
        {"provider": "openai"},
    ],
)
def test_ciphertext_moved_to_another_record_fails(
    keyring: LocalKeyring, other: dict[str, str]
) -> None:
    stored = encrypt_secret(keyring, secret=SECRET, **BINDING)
    with pytest.raises(DecryptionFailedError):
        decrypt_secret(keyring, stored, **{**BINDING, **other})


def test_ciphertext_swapped_between_records_fails(keyring: LocalKeyring) -> None:
    one = encrypt_secret(keyring, secret=SECRET, **BINDING)
    two_binding = {**BINDING, "key_id": "key_2"}
    two = encrypt_secret(keyring, secret=SecretValue("sk-other-0123456789abcdef"), **two_binding)
    swapped = replace(two, ciphertext=one.ciphertext)
    with pytest.raises(DecryptionFailedError):
        decrypt_secret(keyring, swapped, **two_binding)


def _flip(blob: bytes, index: int) -> bytes:
    data = bytearray(blob)
    data[index] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize("index", [0, 12, -1])
def test_flipped_ciphertext_bit_fails(keyring: LocalKeyring, index: int) -> None:
    stored = encrypt_secret(keyring, secret=SECRET, **BINDING)
    with pytest.raises(DecryptionFailedError):
        decrypt_secret(
            keyring, replace(stored, ciphertext=_flip(stored.ciphertext, index)), **BINDING
        )


def test_flipped_wrapped_key_bit_fails(keyring: LocalKeyring) -> None:
    stored = encrypt_secret(keyring, secret=SECRET, **BINDING)
    with pytest.raises(DecryptionFailedError):
        decrypt_secret(
            keyring, replace(stored, wrapped_dek=_flip(stored.wrapped_dek, 20)), **BINDING
        )


def test_wrong_key_version_fails(keyring: LocalKeyring) -> None:
    stored = encrypt_secret(keyring, secret=SECRET, **BINDING)
    other_version, other_key = new_version_entry("v2-")
    both = LocalKeyring([(other_version, other_key), (keyring.active_version, os.urandom(32))])
    # The record names v1 but the keyring's v1 is a different key: refused.
    with pytest.raises(DecryptionFailedError):
        decrypt_secret(both, stored, **BINDING)
    # The record claims v2 (which exists) but was wrapped by v1: refused.
    with pytest.raises(DecryptionFailedError):
        decrypt_secret(both, replace(stored, kek_version=other_version), **BINDING)
    # A version the keyring does not hold: refused.
    only_v2 = LocalKeyring([(other_version, other_key)])
    with pytest.raises(DecryptionFailedError):
        decrypt_secret(only_v2, stored, **BINDING)


def test_keyring_parsing_and_errors_never_quote_key_material() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    ring = parse_keyring(f"new:{key}, old:{base64.b64encode(os.urandom(32)).decode()}")
    assert ring.active_version == "new"
    assert ring.versions() == ("new", "old")
    short = base64.b64encode(b"x" * 16).decode()
    for raw in (f"a:{short}", "a:%%%notbase64", f"a:{key},a:{key}", "nocolon", ""):
        with pytest.raises(KeyringError) as err:
            parse_keyring(raw)
        assert key not in str(err.value)
        assert short not in str(err.value)
    assert key not in repr(ring)


def test_dev_keyring_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keyvault" / "dev-keyring"
    first = load_or_create_dev_keyring(path)
    assert first.active_version.startswith("dev-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_or_create_dev_keyring(path)
    assert second.active_version == first.active_version
    stored = encrypt_secret(first, secret=SECRET, **BINDING)
    assert decrypt_secret(second, stored, **BINDING) == SECRET


def test_prod_refuses_dev_keyring_and_missing_keyring(tmp_path: Path) -> None:
    tokens: dict[str, Any] = PROD_VALUES
    dev_key = base64.b64encode(os.urandom(32)).decode()
    dev = KeyvaultSettings(flowtrux_env="prod", keyvault_master_keys=f"dev-1:{dev_key}", **tokens)
    with pytest.raises(ProductionSettingsError) as err:
        dev.check_production()
    assert dev_key not in str(err.value)
    missing = KeyvaultSettings(flowtrux_env="prod", keyvault_keyring_file=tmp_path / "k", **tokens)
    with pytest.raises(ProductionSettingsError):
        missing.check_production()
    assert not (tmp_path / "k").exists()
    good = KeyvaultSettings(flowtrux_env="prod", keyvault_master_keys=f"prod-1:{dev_key}", **tokens)
    good.check_production()


async def test_rewrap_moves_every_record_and_keeps_secrets_decryptable() -> None:
    v1 = new_version_entry("v1-")
    v2 = new_version_entry("v2-")
    old = LocalKeyring([v1])
    store = InMemoryKeyStore()
    secrets = {}
    for n in range(7):
        key_id = f"key_{n}"
        secret = SecretValue(f"sk-proj-rewrap-secret-{n:04d}-abcdefgh")
        secrets[key_id] = secret
        key = ProviderKey(
            id=key_id,
            org_id="org-r",
            provider="openai",
            name=f"k{n}",
            preview="sk-proj-…efgh",
            status="active",
            created_at=utcnow(),
            created_by="u",
        )
        await store.insert_key(
            key=key,
            secret=encrypt_secret(
                old, org_id="org-r", key_id=key_id, provider="openai", secret=secret
            ),
        )
    ciphertexts = {k: s.ciphertext for k, s in store.secrets.items()}
    rotated = LocalKeyring([v2, v1])
    report = await rewrap_all(store, rotated, batch=3)
    assert report.rewrapped == 7
    assert report.counts == {v2[0]: 7}
    assert "can be retired: " + v1[0] in format_report(report, rotated)
    only_new = LocalKeyring([v2])
    for key_id, stored in store.secrets.items():
        assert stored.kek_version == v2[0]
        assert stored.ciphertext == ciphertexts[key_id]  # never decrypted nor re-encrypted
        assert (
            decrypt_secret(only_new, stored, org_id="org-r", key_id=key_id, provider="openai")
            == secrets[key_id]
        )
    again = await rewrap_all(store, rotated)
    assert again.rewrapped == 0


async def test_rewrap_refuses_a_stale_swap() -> None:
    ring = LocalKeyring([new_version_entry("v1-")])
    store = InMemoryKeyStore()
    stored = encrypt_secret(ring, secret=SECRET, **BINDING)
    key = ProviderKey(
        id="key_1",
        org_id="org-a",
        provider="anthropic",
        name="n",
        preview="p",
        status="active",
        created_at=utcnow(),
        created_by="u",
    )
    await store.insert_key(key=key, secret=stored)
    stale = EncryptedSecret(
        kek_version=stored.kek_version, wrapped_dek=b"other", ciphertext=stored.ciphertext
    )
    assert not await store.swap_wrapped(
        key_id="key_1", old=stale, new_version="v9", new_wrapped=b"x"
    )
