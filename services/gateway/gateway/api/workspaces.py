"""Workspaces and their models: any member reads, only OWNERs change."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from gateway.api.deps import GatewayDep, MemberDep, OwnerDep, object_id
from gateway.api.openapi import WORKSPACE, errors, ok
from gateway.api.schemas import (
    Workspace,
    WorkspaceCreate,
    WorkspaceList,
    WorkspaceModel,
    WorkspaceModelList,
    WorkspaceUpdate,
)
from gateway.clients import seg, unavailable
from gateway.domain import WS_NOT_FOUND, ReadModelsBehindError, WorkspaceNotFoundError
from shared.web import ProblemError

log = logging.getLogger(__name__)
router = APIRouter(tags=["Workspaces"])


def workspaces_path(org_id: str) -> str:
    return f"/internal/v1/orgs/{seg(org_id)}/workspaces"


@router.get("/workspaces", responses={**ok(200, {"items": [WORKSPACE]}), **errors()})
async def list_workspaces(gw: GatewayDep, who: MemberDep) -> WorkspaceList:
    """List the organization's workspaces, oldest first."""
    data = await gw.workspace.call("GET", workspaces_path(who.org_id))
    return WorkspaceList.model_validate(data)


@router.post(
    "/workspaces",
    status_code=201,
    responses={
        **ok(201, {**WORKSPACE, "ai_provider_ids": []}, "Created."),
        **errors(403, 409, 413, 422),
    },
)
async def create_workspace(body: WorkspaceCreate, gw: GatewayDep, who: OwnerDep) -> Workspace:
    """Create a workspace (within the plan's workspace limit)."""
    data = await gw.workspace.call(
        "POST", workspaces_path(who.org_id), json={"name": body.name, "actor": who.user_id}
    )
    return Workspace.model_validate(data)


@router.get("/workspaces/{workspace_id}", responses={**ok(200, WORKSPACE), **errors(404)})
async def get_workspace(workspace_id: str, gw: GatewayDep, who: MemberDep) -> Workspace:
    """Read one workspace with its ordered provider keys."""
    ws = object_id(workspace_id, "workspace")
    data = await gw.workspace.call(
        "GET", f"{workspaces_path(who.org_id)}/{seg(ws)}", not_found=WS_NOT_FOUND
    )
    return Workspace.model_validate(data)


@router.patch(
    "/workspaces/{workspace_id}",
    responses={**ok(200, WORKSPACE), **errors(403, 404, 409, 413, 422)},
)
async def update_workspace(
    workspace_id: str, body: WorkspaceUpdate, gw: GatewayDep, who: OwnerDep
) -> Workspace:
    """Rename a workspace and/or set its ordered provider keys (keys of this org only)."""
    ws = object_id(workspace_id, "workspace")
    payload = {**body.model_dump(exclude_unset=True), "actor": who.user_id}
    data = await gw.workspace.call(
        "PATCH", f"{workspaces_path(who.org_id)}/{seg(ws)}", json=payload, not_found=WS_NOT_FOUND
    )
    return Workspace.model_validate(data)


@router.delete(
    "/workspaces/{workspace_id}",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Deleted."}, **errors(403, 404)},
)
async def delete_workspace(workspace_id: str, gw: GatewayDep, who: OwnerDep) -> Response:
    """Delete a workspace; its key assignments end at once."""
    ws = object_id(workspace_id, "workspace")
    await gw.workspace.call(
        "DELETE",
        f"{workspaces_path(who.org_id)}/{seg(ws)}",
        params={"actor": who.user_id},
        not_found=WS_NOT_FOUND,
    )
    return Response(status_code=204)


@router.get(
    "/workspaces/{workspace_id}/models",
    responses={
        **ok(
            200,
            {
                "items": [
                    {
                        "id": "claude-sonnet-4-6",
                        "provider": "anthropic",
                        "best_for": "Fast, high-quality, 1M context",
                    }
                ]
            },
        ),
        **errors(404),
    },
)
async def list_workspace_models(
    workspace_id: str, gw: GatewayDep, who: MemberDep
) -> WorkspaceModelList:
    """Models the workspace may run: those of providers with a key assigned, catalog order."""
    ws = object_id(workspace_id, "workspace")
    if gw.models is not None:
        try:
            found = await gw.models.models(who.org_id, ws)
        except ReadModelsBehindError as exc:
            log.warning("workspace models refused: %s", exc)
            raise unavailable("kafka", "(the read model of workspaces) is not current") from None
        except WorkspaceNotFoundError:
            raise ProblemError(404, "not_found", WS_NOT_FOUND, title="Not found") from None
        if found is not None:
            return WorkspaceModelList(
                items=[
                    WorkspaceModel(id=m.id, provider=m.provider, best_for=m.best_for) for m in found
                ]
            )
        # A workspace or key not announced on the topics yet: workspace, the owner, answers.
    data = await gw.workspace.call(
        "GET", f"{workspaces_path(who.org_id)}/{seg(ws)}/models", not_found=WS_NOT_FOUND
    )
    return WorkspaceModelList.model_validate(data)
