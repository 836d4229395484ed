"""Settings → AI providers: the organization's provider keys (OWNER only)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.api.deps import GatewayDep, OwnerDep, object_id
from gateway.api.openapi import PROVIDER_KEY, errors, ok
from gateway.api.schemas import ProviderKey, ProviderKeyCreate, ProviderKeyList, ProviderKeyUpdate
from gateway.clients import seg

router = APIRouter(tags=["AI providers"])
KEY_NOT_FOUND = "provider key not found"


def _keys(org_id: str) -> str:
    return f"/internal/v1/orgs/{seg(org_id)}/keys"


@router.get("/ai-providers", responses={**ok(200, {"items": [PROVIDER_KEY]}), **errors(403)})
async def list_provider_keys(gw: GatewayDep, who: OwnerDep) -> ProviderKeyList:
    """List the organization's provider keys; only masked previews, never a key."""

    async def read() -> ProviderKeyList:
        return ProviderKeyList.model_validate(await gw.keyvault.call("GET", _keys(who.org_id)))

    if gw.key_lists is None:
        return await read()
    listed: ProviderKeyList = await gw.key_lists.list(who.org_id, read)
    return listed


def _changed(gw: GatewayDep, org_id: str) -> None:
    """This gateway wrote the org's keys: its next key list is read afresh."""
    if gw.key_lists is not None:
        gw.key_lists.forget(org_id)


@router.post(
    "/ai-providers",
    status_code=201,
    responses={**ok(201, PROVIDER_KEY, "Stored."), **errors(403, 409, 413, 422)},
)
async def create_provider_key(
    body: ProviderKeyCreate, gw: GatewayDep, who: OwnerDep
) -> ProviderKey:
    """Store a provider key encrypted; the answer carries only its masked preview."""
    payload = {**body.model_dump(mode="json"), "actor": who.user_id}
    try:
        data = await gw.keyvault.call("POST", _keys(who.org_id), json=payload)
    finally:
        _changed(gw, who.org_id)
    return ProviderKey.model_validate(data)


@router.patch(
    "/ai-providers/{key_id}",
    responses={**ok(200, {**PROVIDER_KEY, "name": "Dev"}), **errors(403, 404, 409, 413, 422)},
)
async def update_provider_key(
    key_id: str, body: ProviderKeyUpdate, gw: GatewayDep, who: OwnerDep
) -> ProviderKey:
    """Rename a provider key, replace its value in place (same id and assignments), and/or
    set its monthly budget and expiry."""
    key_id = object_id(key_id, "provider key")
    try:
        data = await gw.keyvault.call(
            "PATCH",
            f"{_keys(who.org_id)}/{seg(key_id)}",
            json={
                **body.model_dump(mode="json", exclude_none=True),
                # A budget or expiry sent as null clears it; one not sent stays as it is.
                **body.model_dump(
                    mode="json", include={"budget_usd_monthly", "expires_at"}, exclude_unset=True
                ),
                "actor": who.user_id,
            },
            not_found=KEY_NOT_FOUND,
        )
    finally:
        _changed(gw, who.org_id)
    return ProviderKey.model_validate(data)


@router.delete(
    "/ai-providers/{key_id}",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Deleted; the key left every workspace."}, **errors(403, 404)},
)
async def delete_provider_key(key_id: str, gw: GatewayDep, who: OwnerDep) -> Response:
    """Delete a provider key; it leaves every workspace at once and frees its plan slot."""
    key_id = object_id(key_id, "provider key")
    try:
        await gw.keyvault.call(
            "DELETE",
            f"{_keys(who.org_id)}/{seg(key_id)}",
            params={"actor": who.user_id},
            not_found=KEY_NOT_FOUND,
        )
    finally:
        _changed(gw, who.org_id)
    return Response(status_code=204)
