"""Fields every event carries, and the identifier type used across the contracts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
IDENTIFIER_MAX = 128
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=IDENTIFIER_MAX, pattern=IDENTIFIER_PATTERN),
]
"""An opaque id chosen by its owner: 1–128 characters, letters, digits and `._:@-`."""
_IDENTIFIER_RE = re.compile(IDENTIFIER_PATTERN)


def is_identifier(value: str) -> bool:
    """Whether `value` is a valid `Identifier` (for checks outside a pydantic model)."""
    return len(value) <= IDENTIFIER_MAX and _IDENTIFIER_RE.fullmatch(value) is not None


ProviderId = Literal["anthropic", "openai", "google"]
PROVIDERS: tuple[ProviderId, ...] = ("anthropic", "openai", "google")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Model(BaseModel):
    """A frozen value: contracts never change after they are made; unknown fields are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Model):
    """The envelope fields of every event on every topic."""

    event_id: UUID = Field(default_factory=uuid4, description="Unique id of this event.")
    occurred_at: datetime = Field(
        default_factory=utcnow, description="When the event happened (RFC 3339, UTC)."
    )
    schema_version: Literal[1] = Field(1, description="Version of the event schema.")
