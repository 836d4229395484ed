"""Opaque cursors for lists paged newest first by (time, id): `{items, next_cursor}`."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import NamedTuple

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"


class Cursor(NamedTuple):
    """The last item a page showed; the next page starts strictly after it."""

    at: datetime
    id: str


class InvalidCursorError(ValueError):
    """The text is not a cursor this service handed out."""


def encode_cursor(at: datetime, item_id: str) -> str:
    raw = f"{at.astimezone(UTC).isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The cursor in `text`; InvalidCursorError for anything else (never a 500)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        moment, item_id = raw.split("|", 1)
        at = datetime.fromisoformat(moment)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursorError("cursor: not a cursor of this list") from None
    if at.tzinfo is None or not item_id:
        raise InvalidCursorError("cursor: not a cursor of this list")
    return Cursor(at=at, id=item_id)
