"""Admitting a test run: the workspace's max_tokens cap, the org's rate limit and the
Idempotency-Key (same key and body → the same execution; another body → conflict)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from shared.contracts import utcnow
from workspace.domain import (
    Admission,
    IdempotencyClaim,
    RunBoundsStore,
    check_max_tokens,
    rate_limited,
    same_request,
    window_of,
)
from workspace.service.workspaces import WorkspaceService


class RunBounds:
    """Decides, for the gateway, whether and as which execution a test run goes ahead."""

    def __init__(
        self,
        *,
        store: RunBoundsStore,
        workspaces: WorkspaceService,
        rate_limit: int,
        window_s: int,
        idempotency_ttl: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.workspaces = workspaces
        self.rate_limit = rate_limit
        self.window_s = window_s
        self.ttl = idempotency_ttl
        self.clock = clock

    async def admit(
        self,
        org_id: str,
        workspace_id: str,
        *,
        execution_id: str,
        max_tokens: int,
        body_hash: str,
        idempotency_key: str | None,
    ) -> Admission:
        """Run `execution_id`, or replay the execution a repeated Idempotency-Key names.

        A replay is answered before the cap and the rate limit: repeating a request that was
        admitted never costs a second run. Concurrent first uses of one key race on one
        unique insert; exactly one runs, the others replay it.
        """
        workspace = await self.workspaces.get_workspace(org_id, workspace_id)
        now = self.clock()
        if idempotency_key is not None:
            earlier = await self.store.find_claim(org_id=org_id, key=idempotency_key)
            if earlier is not None and earlier.live(now) and same_request(earlier, body_hash):
                return Admission(execution_id=earlier.execution_id, replay=True)
        check_max_tokens(max_tokens, workspace.max_tokens_cap)
        if self.rate_limit:
            start, retry_after = window_of(now, self.window_s)
            taken = await self.store.take_run_slot(
                org_id=org_id,
                window_start=start,
                limit=self.rate_limit,
                expires_at=start + timedelta(seconds=2 * self.window_s),
            )
            if not taken:
                raise rate_limited(
                    limit=self.rate_limit, window_s=self.window_s, retry_after_s=retry_after
                )
        if idempotency_key is None:
            return Admission(execution_id=execution_id, replay=False)
        mine = IdempotencyClaim(
            org_id=org_id,
            key=idempotency_key,
            body_hash=body_hash,
            execution_id=execution_id,
            workspace_id=workspace_id,
            created_at=now,
            expires_at=now + self.ttl,
        )
        stored = await self.store.claim(claim=mine, now=now)
        if stored.execution_id == execution_id:
            return Admission(execution_id=execution_id, replay=False)
        same_request(stored, body_hash)  # lost the race: the winner's body must match
        return Admission(execution_id=stored.execution_id, replay=True)

    async def release(self, org_id: str, *, idempotency_key: str, execution_id: str) -> None:
        """Forget a claim whose execution was never requested (the publish failed)."""
        await self.store.release(org_id=org_id, key=idempotency_key, execution_id=execution_id)

    async def prune(self) -> int:
        """Delete expired Idempotency-Key claims and rate windows."""
        return await self.store.prune(now=self.clock())
