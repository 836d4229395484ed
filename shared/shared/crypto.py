"""Secret handling shared by keyvault and agent-runner.

`SecretValue` keeps a secret out of repr/str/logs. `seal`/`open_sealed` carry a provider
key from keyvault to one runner call: X25519 key agreement with a fresh ephemeral key,
HKDF-SHA256, AES-256-GCM, with a context (execution, key id) bound as associated data.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SEAL_INFO = b"flowtrux/keyvault/sealed-key/v1"
_PUB_LEN = 32
_NONCE_LEN = 12


class SecretValue:
    """A secret string whose repr/str never shows it; `.reveal()` is the only way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str:  # never pickled into a cache or a message
        raise TypeError("SecretValue cannot be pickled")


class SealError(Exception):
    """A sealed box could not be opened (wrong recipient, context or tampered bytes)."""


def new_recipient() -> tuple[X25519PrivateKey, bytes]:
    """A fresh X25519 key pair for one request: the private key and raw public bytes."""
    private = X25519PrivateKey.generate()
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private, public


def _derive(shared_secret: bytes, eph_pub: bytes, recipient_pub: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=eph_pub + recipient_pub, info=_SEAL_INFO
    ).derive(shared_secret)


def seal(recipient_public: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt `plaintext` so only the holder of the recipient's private key can open it."""
    if len(recipient_public) != _PUB_LEN:
        raise SealError("recipient public key must be 32 raw bytes (X25519)")
    recipient = X25519PublicKey.from_public_bytes(recipient_public)
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key = _derive(eph.exchange(recipient), eph_pub, recipient_public)
    nonce = os.urandom(_NONCE_LEN)
    return eph_pub + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def open_sealed(
    private: X25519PrivateKey,
    sealed: bytes,
    context: bytes,
    *,
    recipient_public: bytes | None = None,
) -> bytes:
    """Decrypt a box made by `seal` for this private key and context.

    `recipient_public` (the raw public half `new_recipient` returned) saves deriving it
    again from the private key; a wrong one fails like a wrong key (SealError).
    """
    if len(sealed) < _PUB_LEN + _NONCE_LEN + 16:
        raise SealError("sealed box too short")
    eph_pub, nonce, ct = (
        sealed[:_PUB_LEN],
        sealed[_PUB_LEN : _PUB_LEN + _NONCE_LEN],
        sealed[_PUB_LEN + _NONCE_LEN :],
    )
    recipient_pub = recipient_public or private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key = _derive(
        private.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub, recipient_pub
    )
    try:
        return AESGCM(key).decrypt(nonce, ct, context)
    except InvalidTag:
        raise SealError("sealed box could not be opened") from None


def seal_context(*, execution_id: str, key_id: str) -> bytes:
    """The associated data binding a sealed key to one execution and key id."""
    return f"{execution_id}\x1f{key_id}".encode()
