"""keyvault's internal routes (docs/INTERNAL_API.md, keyvault section), health routes,
and the mapping of domain errors to problem+json."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from keyvault.api.metrics import GRANTED, KeyvaultMetrics
from keyvault.api.schemas import (
    AlertList,
    AuditList,
    AuditRead,
    KeyCount,
    KeyCreate,
    KeyList,
    KeyPatch,
    KeyRead,
    ResolveBatchItem,
    ResolveBatchRequest,
    ResolveBatchResponse,
    ResolveRefusal,
    ResolveRequest,
    ResolveResponse,
)
from keyvault.domain import InvalidInputError, KeyvaultError
from keyvault.service import ResolveAsk, Vault
from shared.crypto import SecretValue
from shared.paging import DEFAULT_LIMIT, MAX_LIMIT
from shared.settings import BaseServiceSettings
from shared.web import service_caller

RUNNER = "agent-runner"  # the only service that may resolve keys


async def _vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


VaultDep = Annotated[Vault, Depends(_vault)]


def _public_key(value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("public_key", "must be base64") from None
    if len(raw) != 32:
        raise InvalidInputError("public_key", "must be 32 raw X25519 bytes")
    return raw


def create_router(settings: BaseServiceSettings, metrics: KeyvaultMetrics) -> APIRouter:
    """The internal routes, each guarded by the service credentials allowed to call it."""
    readers = Depends(service_caller(settings, allowed={"gateway", "workspace"}))
    writer = Depends(service_caller(settings, allowed={"gateway"}))
    runner = service_caller(settings, allowed={RUNNER})
    router = APIRouter(prefix="/internal/v1")

    @router.post("/orgs/{org_id}/keys", status_code=201, dependencies=[writer])
    async def create_key(org_id: str, body: KeyCreate, vault: VaultDep) -> KeyRead:
        """Store a provider key encrypted; the answer carries only its masked preview."""
        key = await vault.create(
            org_id=org_id,
            provider=body.provider,
            name=body.name,
            secret=SecretValue(body.api_key.get_secret_value()),
            actor=body.actor,
            verify=body.verify,
            budget_usd_monthly=body.budget_usd_monthly,
            expires_at=body.expires_at,
        )
        return KeyRead.from_domain(key)

    @router.get("/orgs/{org_id}/keys", dependencies=[readers])
    async def list_keys(org_id: str, vault: VaultDep, include_deleted: bool = False) -> KeyList:
        """The org's keys, oldest first, each with its settled spend this UTC month."""
        keys = await vault.list_keys(org_id=org_id, include_deleted=include_deleted)
        spent = await vault.spent_this_month(org_id=org_id, key_ids=[k.id for k in keys])
        return KeyList(items=[KeyRead.from_domain(k, spent.get(k.id, 0.0)) for k in keys])

    @router.get("/orgs/{org_id}/keys-count", dependencies=[readers])
    async def count_keys(org_id: str, vault: VaultDep) -> KeyCount:
        """How many live keys the org has."""
        return KeyCount(active=await vault.count(org_id=org_id))

    @router.get("/orgs/{org_id}/keys/{key_id}", dependencies=[readers])
    async def get_key(org_id: str, key_id: str, vault: VaultDep) -> KeyRead:
        """One key's metadata, deleted ones included."""
        key = await vault.get(org_id=org_id, key_id=key_id)
        spent = await vault.spent_this_month(org_id=org_id, key_ids=[key_id])
        return KeyRead.from_domain(key, spent.get(key_id, 0.0))

    @router.patch("/orgs/{org_id}/keys/{key_id}", dependencies=[writer])
    async def update_key(org_id: str, key_id: str, body: KeyPatch, vault: VaultDep) -> KeyRead:
        """Rename a live key and/or replace its value in place (same id and assignments)."""
        key = None
        if body.name is not None:
            key = await vault.rename(org_id=org_id, key_id=key_id, name=body.name, actor=body.actor)
        if body.api_key is not None:
            key = await vault.replace(
                org_id=org_id,
                key_id=key_id,
                secret=SecretValue(body.api_key.get_secret_value()),
                actor=body.actor,
                verify=body.verify,
            )
        limits = body.model_dump(include={"budget_usd_monthly", "expires_at"}, exclude_unset=True)
        if limits:
            key = await vault.set_limits(
                org_id=org_id, key_id=key_id, changes=limits, actor=body.actor
            )
        if key is None:
            raise InvalidInputError(
                "request", "give a new name, api_key, budget_usd_monthly or expires_at"
            )
        spent = await vault.spent_this_month(org_id=org_id, key_ids=[key_id])
        return KeyRead.from_domain(key, spent.get(key_id, 0.0))

    @router.get("/orgs/{org_id}/alerts", dependencies=[readers])
    async def alerts(
        org_id: str,
        vault: VaultDep,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> AlertList:
        """The org's budget and key-expiry alerts, newest first, one page at a time."""
        items, next_cursor = await vault.alerts(org_id=org_id, limit=limit, cursor=cursor)
        return AlertList(items=items, next_cursor=next_cursor)

    @router.delete("/orgs/{org_id}/keys/{key_id}", status_code=204, dependencies=[writer])
    async def delete_key(
        org_id: str, key_id: str, vault: VaultDep, actor: Annotated[str, Query()] = ""
    ) -> Response:
        """Delete a key: ciphertext and wrapped data key removed; metadata stays (deleted)."""
        await vault.delete(org_id=org_id, key_id=key_id, actor=actor)
        return Response(status_code=204)

    @router.get("/orgs/{org_id}/audit", dependencies=[readers])
    async def audit(
        org_id: str,
        vault: VaultDep,
        key_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> AuditList:
        """Every key change and resolution of the org, newest first, one page at a time."""
        entries, next_cursor = await vault.audit(
            org_id=org_id, key_id=key_id, limit=limit, cursor=cursor
        )
        return AuditList(items=[AuditRead.from_domain(e) for e in entries], next_cursor=next_cursor)

    @router.post("/resolve", dependencies=[Depends(runner)])
    async def resolve(body: ResolveRequest, vault: VaultDep) -> ResolveResponse:
        """A workspace's key for one execution, sealed to the runner's one-time public key."""
        try:
            resolved = await vault.resolve(
                org_id=body.org_id,
                workspace_id=body.workspace_id,
                provider=body.provider,
                execution_id=body.execution_id,
                public_key=_public_key(body.public_key),
                skip_key_ids=body.skip_key_ids,
                service=RUNNER,
            )
        except KeyvaultError as exc:
            metrics.resolved(exc.code)
            raise
        metrics.resolved(GRANTED)
        return ResolveResponse(
            key_id=resolved.key_id, sealed=base64.b64encode(resolved.sealed).decode()
        )

    @router.post("/resolve-batch", dependencies=[Depends(runner)])
    async def resolve_batch(body: ResolveBatchRequest, vault: VaultDep) -> ResolveBatchResponse:
        """Several executions' keys in one call; each item answered (or refused) on its own."""
        asks: list[ResolveAsk | InvalidInputError] = []
        for item in body.items:
            try:
                public_key = _public_key(item.public_key)
            except InvalidInputError as exc:
                asks.append(exc)
                continue
            asks.append(
                ResolveAsk(
                    org_id=item.org_id,
                    workspace_id=item.workspace_id,
                    provider=item.provider,
                    execution_id=item.execution_id,
                    public_key=public_key,
                    skip_key_ids=tuple(item.skip_key_ids),
                    estimate_usd=item.estimate_usd,
                )
            )
        valid = [a for a in asks if isinstance(a, ResolveAsk)]
        answers = iter(await vault.resolve_many(valid, service=RUNNER) if valid else [])
        items = []
        for ask in asks:
            outcome = ask if isinstance(ask, InvalidInputError) else next(answers)
            if isinstance(outcome, KeyvaultError):
                refusal = ResolveRefusal(
                    status=outcome.status, code=outcome.code, detail=outcome.detail
                )
                items.append(ResolveBatchItem(error=refusal))
                metrics.resolved(outcome.code)
            else:
                metrics.resolved(GRANTED)
                sealed = base64.b64encode(outcome.sealed).decode()
                items.append(ResolveBatchItem(key_id=outcome.key_id, sealed=sealed))
        return ResolveBatchResponse(items=items)

    return router
