"""Bounds of test runs (POST /workspaces/{id}/executions through the gateway): idempotency
claims and the per-org rate limit. Pure values and rules; the store keeps the claims and
counters so every gateway replica sees the same ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from workspace.domain.errors import WorkspaceError

IDEMPOTENCY_KEY_MAX = 255


class IdempotencyConflictError(WorkspaceError):
    """The Idempotency-Key was used before with another request body."""

    status = 409
    code = "idempotency_conflict"


class RateLimitedError(WorkspaceError):
    """The organization started more test runs than its rate allows."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class IdempotencyClaim:
    """An Idempotency-Key of an org bound to the first request's body and execution."""

    org_id: str
    key: str
    body_hash: str
    execution_id: str
    workspace_id: str
    created_at: datetime
    expires_at: datetime

    def live(self, now: datetime) -> bool:
        return _utc(self.expires_at) > now


@dataclass(frozen=True)
class RunRequest:
    """A test run the gateway is about to request (its body hashed, never its prompt)."""

    workspace_id: str
    execution_id: str
    max_tokens: int
    body_hash: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Admission:
    """What the gateway does with a test run: run `execution_id`, or (replay) answer the
    earlier execution of the same Idempotency-Key without calling the provider again."""

    execution_id: str
    replay: bool


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def same_request(claim: IdempotencyClaim, body_hash: str) -> bool:
    """Whether a request with `body_hash` repeats the claimed one; a conflict otherwise."""
    if claim.body_hash != body_hash:
        raise IdempotencyConflictError(
            f"Idempotency-Key {claim.key!r} was used at {claim.created_at:%Y-%m-%d %H:%M:%S} UTC "
            "with another request body; use a new key for a different request"
        )
    return True


def window_of(now: datetime, window_s: int) -> tuple[datetime, int]:
    """The fixed rate window `now` falls in: its start and the whole seconds until the next."""
    epoch = now.timestamp()
    start = math.floor(epoch / window_s) * window_s
    retry_after = max(1, math.ceil(start + window_s - epoch))
    return datetime.fromtimestamp(start, UTC), retry_after


def rate_limited(*, limit: int, window_s: int, retry_after_s: int) -> RateLimitedError:
    """The refusal of a test run over the org's `limit` per `window_s`."""
    return RateLimitedError(
        f"this organization may start {limit} test runs per {window_s} s; "
        f"try again in {retry_after_s} s",
        retry_after_s,
    )


def claim_expiry(now: datetime, ttl: timedelta) -> datetime:
    return now + ttl
