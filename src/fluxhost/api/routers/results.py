"""GET /v1/get_result: poll a task."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from fluxhost.api.auth import NOT_AUTHENTICATED, optional_key
from fluxhost.api.responses import errors
from fluxhost.api.urls import base_url
from fluxhost.api.validation import plausible_id
from fluxhost.render import not_found_body, result_body
from fluxhost.services import Services
from fluxhost.store.keys import KeyInfo
from fluxhost.store.tasks import get_task
from fluxhost.wire import ResultResponse

router = APIRouter(tags=["Utility"])


@router.get(
    "/v1/get_result",
    response_model=ResultResponse,
    summary="Get Result",
    description="An endpoint for getting generation task result.",
    operation_id="get_result_v1_get_result_get",
    responses={
        **errors(400, 403),
        404: {"model": ResultResponse, "description": "Task not found"},
    },
)
async def get_result(
    request: Request,
    id: str = Query(..., title="Id"),
    key: KeyInfo | None = Depends(optional_key),
) -> JSONResponse:
    svc: Services = request.app.state.services
    if key is None and svc.settings.require_key_for_results:
        raise HTTPException(status_code=403, detail=NOT_AUTHENTICATED)
    base = base_url(request, svc.settings)
    # The read in a thread: a stalled database (or a slow one) holds up this poll only.
    task = await run_in_threadpool(get_task, svc.store, id) if plausible_id(id) else None
    if task is None or (key is not None and task.key_id != key.id):
        # Another key's task answers exactly like an unknown one: ids leak nothing.
        return JSONResponse(not_found_body(id).model_dump(mode="json"), status_code=404)
    body = result_body(task, svc.signer, base)
    headers = {"Retry-After": "1"} if task.state != "done" else None
    return JSONResponse(body.model_dump(mode="json"), headers=headers)
