"""Admitting a test run: the workspace's max_tokens cap, the org's rate limit and the
Idempotency-Key (same key and body → the same execution; another body → conflict)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from shared.contracts import utcnow
from workspace.domain import (
    Admission,
    IdempotencyClaim,
    RunBoundsStore,
    RunRequest,
    Workspace,
    WorkspaceError,
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
        self, org_id: str, requests: Sequence[RunRequest]
    ) -> list[Admission | WorkspaceError]:
        """Each request's admission, in order: run its `execution_id`, replay the execution a
        repeated Idempotency-Key names, or (an item's refusal) the WorkspaceError saying why.

        The concurrent test runs of a gateway arrive together: each distinct workspace is
        read once, then the requests are admitted one after another, exactly as if they had
        come one by one. A refusal (404, 409, 422, 429) is that request's alone; a store
        failure fails them all.
        """
        distinct = list(dict.fromkeys(r.workspace_id for r in requests))
        loaded = await asyncio.gather(*(self._workspace(org_id, w) for w in distinct))
        workspaces = dict(zip(distinct, loaded, strict=True))
        outcomes: list[Admission | WorkspaceError] = []
        for request in requests:
            workspace = workspaces[request.workspace_id]
            try:
                if isinstance(workspace, WorkspaceError):
                    raise workspace
                outcomes.append(await self._admit(org_id, workspace, request))
            except WorkspaceError as refused:
                if refused.status >= 500:
                    raise
                outcomes.append(refused)
        return outcomes

    async def _workspace(self, org_id: str, workspace_id: str) -> Workspace | WorkspaceError:
        try:
            return await self.workspaces.get_workspace(org_id, workspace_id)
        except WorkspaceError as refused:
            if refused.status >= 500:
                raise
            return refused

    async def _admit(self, org_id: str, workspace: Workspace, request: RunRequest) -> Admission:
        """A replay is answered before the cap and the rate limit: repeating a request that
        was admitted never costs a second run. Concurrent first uses of one key race on one
        unique insert; exactly one runs, the others replay it."""
        now = self.clock()
        key, body_hash = request.idempotency_key, request.body_hash
        if key is not None:
            earlier = await self.store.find_claim(org_id=org_id, key=key)
            if earlier is not None and earlier.live(now) and same_request(earlier, body_hash):
                return Admission(execution_id=earlier.execution_id, replay=True)
        check_max_tokens(request.max_tokens, workspace.max_tokens_cap)
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
        if key is None:
            return Admission(execution_id=request.execution_id, replay=False)
        mine = IdempotencyClaim(
            org_id=org_id,
            key=key,
            body_hash=body_hash,
            execution_id=request.execution_id,
            workspace_id=workspace.id,
            created_at=now,
            expires_at=now + self.ttl,
        )
        stored = await self.store.claim(claim=mine, now=now)
        if stored.execution_id == request.execution_id:
            return Admission(execution_id=request.execution_id, replay=False)
        same_request(stored, body_hash)  # lost the race: the winner's body must match
        return Admission(execution_id=stored.execution_id, replay=True)

    async def release(self, org_id: str, *, idempotency_key: str, execution_id: str) -> None:
        """Forget a claim whose execution was never requested (the publish failed)."""
        await self.store.release(org_id=org_id, key=idempotency_key, execution_id=execution_id)

    async def prune(self) -> int:
        """Delete expired Idempotency-Key claims and rate windows."""
        return await self.store.prune(now=self.clock())
