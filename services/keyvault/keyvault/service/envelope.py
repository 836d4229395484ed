"""Envelope encryption: a fresh AES-256-GCM data key per secret, wrapped by a versioned keyring."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyvault.domain import DecryptionFailedError, EncryptedSecret, Keyring, secret_aad, wrap_aad
from shared.crypto import SecretValue

NONCE_LEN = 12
KEK_LEN = 32
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEV_PREFIX = "dev-"


class KeyringError(ValueError):
    """The keyring setting is malformed; the message never quotes key material."""


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_LEN + 16:
        raise DecryptionFailedError("ciphertext too short")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], aad)
    except InvalidTag:
        raise DecryptionFailedError("ciphertext did not authenticate") from None


class LocalKeyring:
    """KEKs held in process memory from settings; the first version is active."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyringError("the keyring is empty")
        self._keys: dict[str, bytes] = {}
        for version, key in keys:
            if not _VERSION_RE.fullmatch(version):
                raise KeyringError(f"keyring version id {version!r} is not a valid id")
            if version in self._keys:
                raise KeyringError(f"keyring version id {version!r} appears twice")
            if len(key) != KEK_LEN:
                raise KeyringError(f"keyring version {version!r} must be 32 bytes (256 bits)")
            self._keys[version] = key
        self._active = keys[0][0]

    def __repr__(self) -> str:
        return f"LocalKeyring(active={self._active!r}, versions={list(self._keys)!r})"

    @property
    def active_version(self) -> str:
        return self._active

    def versions(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def material(self, version: str) -> bytes:
        """The KEK bytes of `version` (for the start-up strength checks only)."""
        return self._keys[version]

    def wrap(self, dek: bytes, *, aad_for: str) -> tuple[str, bytes]:
        version = self._active
        return version, _seal(
            self._keys[version], dek, wrap_aad(key_id=aad_for, kek_version=version)
        )

    def unwrap(self, version: str, wrapped: bytes, *, aad_for: str) -> bytes:
        kek = self._keys.get(version)
        if kek is None:
            raise DecryptionFailedError(f"keyring has no version {version!r}")
        return _open(kek, wrapped, wrap_aad(key_id=aad_for, kek_version=version))


def parse_keyring(raw: str) -> LocalKeyring:
    """`id:base64key[,id:base64key...]` -> a keyring whose first entry is active."""
    entries: list[tuple[str, bytes]] = []
    for position, part in enumerate(p.strip() for p in raw.split(",")):
        if not part:
            continue
        version, sep, encoded = part.partition(":")
        if not sep:
            raise KeyringError(f"keyring entry {position + 1} is not 'id:base64key'")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"keyring entry {version.strip()!r} is not valid base64") from None
        entries.append((version.strip(), key))
    return LocalKeyring(entries)


def format_keyring(entries: list[tuple[str, bytes]]) -> str:
    return ",".join(f"{v}:{base64.b64encode(k).decode()}" for v, k in entries)


def valid_version(version: str) -> bool:
    """A keyring entry id: 1-64 of letters, digits, `.`, `_`, `-`, starting alphanumeric."""
    return _VERSION_RE.fullmatch(version) is not None


def new_version_entry(prefix: str = "") -> tuple[str, bytes]:
    """A fresh KEK with a random version id."""
    return f"{prefix}{secrets.token_hex(4)}", AESGCM.generate_key(bit_length=256)


def load_or_create_dev_keyring(path: Path) -> LocalKeyring:
    """The dev keyring in `path` (mode 0600), generated once with `dev-` ids."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        content = format_keyring([new_version_entry(DEV_PREFIX)]) + "\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first; read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
    return parse_keyring(path.read_text().strip())


COMPOSE_DEV_KEK = base64.b64decode("ZGV2LWNvbXBvc2Uta2V5cmluZy0zMi1ieXRlcy0hISE=")
"""The marked dev keyring entry of docker-compose.yml; refused in prod under any id."""


def keyring_entry_problem(key: bytes) -> str | None:
    """Why a KEK does not look like 32 random bytes (None when it does).

    A passphrase or pattern is refused: 32 random bytes are all printable ASCII with
    probability ~1e-14 and have fewer than 16 distinct values practically never.
    """
    if len(key) != KEK_LEN:
        return f"must be {KEK_LEN} bytes"
    if key == COMPOSE_DEV_KEK:
        return "the docker-compose dev key"
    if all(0x20 <= b < 0x7F for b in key):
        return "printable text, not 32 random bytes (generate with `openssl rand -base64 32`)"
    if len(set(key)) < 16:
        return "too few distinct bytes to be random"
    return None


def is_dev_keyring(keyring: Keyring) -> bool:
    return any(v.startswith(DEV_PREFIX) for v in keyring.versions())


def encrypt_secret(
    keyring: Keyring, *, org_id: str, key_id: str, provider: str, secret: SecretValue
) -> EncryptedSecret:
    """Encrypt under a fresh data key bound to (org, key, provider); wrap it with the keyring."""
    dek = AESGCM.generate_key(bit_length=256)
    ciphertext = _seal(
        dek,
        secret.reveal().encode(),
        secret_aad(org_id=org_id, key_id=key_id, provider=provider),
    )
    version, wrapped = keyring.wrap(dek, aad_for=key_id)
    return EncryptedSecret(kek_version=version, wrapped_dek=wrapped, ciphertext=ciphertext)


def decrypt_secret(
    keyring: Keyring, stored: EncryptedSecret, *, org_id: str, key_id: str, provider: str
) -> SecretValue:
    """The plaintext secret, or DecryptionFailedError when any binding or byte is wrong."""
    dek = keyring.unwrap(stored.kek_version, stored.wrapped_dek, aad_for=key_id)
    plain = _open(
        dek, stored.ciphertext, secret_aad(org_id=org_id, key_id=key_id, provider=provider)
    )
    return SecretValue(plain.decode())


def rewrap(keyring: Keyring, stored: EncryptedSecret, *, key_id: str) -> tuple[str, bytes]:
    """The data key re-wrapped under the active version; the secret is never decrypted."""
    dek = keyring.unwrap(stored.kek_version, stored.wrapped_dek, aad_for=key_id)
    return keyring.wrap(dek, aad_for=key_id)
