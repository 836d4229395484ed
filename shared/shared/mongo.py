"""Store helpers shared by the services' MongoDB repositories."""

from __future__ import annotations

DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})


def is_unique_violation(exc: BaseException) -> bool:
    """True when a write failed on a unique index.

    MongoDB says so with code 11000 (DuplicateKeyError). FerretDB 1.x does for inserts, but an
    *update* that breaks a unique index comes back as code 1 with SQLite's message.
    """
    code = getattr(exc, "code", None)
    if code in DUPLICATE_KEY_CODES:
        return True
    return code == 1 and "UNIQUE constraint failed" in str(exc)
