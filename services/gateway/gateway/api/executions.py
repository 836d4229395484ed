"""Test runs: publish an ExecutionRequested as a workflow engine would, optionally wait."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.api.deps import GatewayDep, MemberDep, object_id
from gateway.api.workspaces import WS_NOT_FOUND, workspaces_path
from gateway.events import BusUnavailableError
from gateway.openapi import EXECUTION, errors
from gateway.schemas import Execution, ExecutionCreate, ExecutionQueued
from gateway.upstream import seg, unavailable
from shared.contracts import ExecutionRequested

router = APIRouter(tags=["Executions"])
TEST_ORIGIN = "gateway-test"


@router.post(
    "/workspaces/{workspace_id}/executions",
    status_code=202,
    response_model=None,
    responses={
        202: {
            "model": ExecutionQueued,
            "description": "Requested; the result was not in within `wait_seconds`.",
            "content": {
                "application/json": {"example": {"execution_id": "exec-1", "status": "queued"}}
            },
        },
        200: {
            "model": Execution,
            "description": "Finished within `wait_seconds`.",
            "content": {"application/json": {"example": EXECUTION}},
        },
        **errors(404, 413, 422),
    },
)
async def run_execution(
    workspace_id: str, body: ExecutionCreate, gw: GatewayDep, who: MemberDep
) -> JSONResponse:
    """Run a model in a workspace as an Agent node would; wait up to `wait_seconds` for it."""
    ws = object_id(workspace_id, "workspace")
    await gw.workspace.call(
        "GET", f"{workspaces_path(who.org_id)}/{seg(ws)}", not_found=WS_NOT_FOUND
    )
    request = ExecutionRequested(
        execution_id=f"exec-{uuid.uuid4().hex}",
        org_id=who.org_id,
        workspace_id=ws,
        workflow_id=TEST_ORIGIN,
        node_id=TEST_ORIGIN,
        model=body.model,
        input=body.input.to_contract(),
    )

    async def publish() -> None:
        try:
            await gw.bus.publish(request)
        except BusUnavailableError:
            raise unavailable("kafka") from None

    result = await gw.bus.wait_for(request.execution_id, body.wait_seconds, publish)
    if result is None:
        queued = ExecutionQueued(execution_id=request.execution_id)
        return JSONResponse(queued.model_dump(mode="json"), status_code=202)
    return JSONResponse(Execution.from_result(result).model_dump(mode="json"), status_code=200)


@router.get(
    "/executions/{execution_id}",
    responses={200: {"content": {"application/json": {"example": EXECUTION}}}, **errors(404)},
)
async def get_execution(execution_id: str, gw: GatewayDep, who: MemberDep) -> Execution:
    """Read an execution of the organization from the usage ledger."""
    ex = object_id(execution_id, "execution")
    data = await gw.workspace.call(
        "GET",
        f"/internal/v1/orgs/{seg(who.org_id)}/executions/{seg(ex)}",
        not_found="execution not found",
    )
    return Execution.model_validate(data)
