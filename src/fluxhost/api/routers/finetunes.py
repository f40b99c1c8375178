"""Finetune management: create (train), details, list, delete. A finetune is visible and
usable only by its key; another key's answers exactly like an unknown id."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from enum import Enum
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from fluxhost.api import blobs as blob_calls
from fluxhost.api.auth import SECURITY, require_key
from fluxhost.api.body import openapi_body, parse_body
from fluxhost.api.responses import BODY_WRITE, errors
from fluxhost.api.routers.generate import forget_finetune
from fluxhost.api.urls import base_url
from fluxhost.api.validation import (
    check_webhook_secret,
    field_error,
    plausible_finetune_ref,
    raise_errors,
)
from fluxhost.kinds import KLEIN_TRAINING_KINDS, TRAINING_ENDPOINT, training_kind
from fluxhost.services import Services
from fluxhost.store.finetunes import delete_finetune, find_owned_finetune, list_finetunes
from fluxhost.store.finetunes import submit_training as store_training
from fluxhost.store.keys import KeyInfo
from fluxhost.store.tasks import INPUTS_PARAM, TooManyActiveTasks, task_row
from fluxhost.webhooks.targets import check_url_literal
from fluxhost.wire.finetunes import (
    DeleteFinetuneInputs,
    DeleteFinetuneResponse,
    FinetuneCreated,
    FinetuneDetailResponse,
    FinetuneInputs,
    MyFinetunesResponse,
)

router = APIRouter()
EXTRA = {"security": SECURITY}
UTILITY: list[str | Enum] = ["Utility"]


def _services(request: Request) -> Services:
    return request.app.state.services


def _not_found(finetune_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"Finetune not found: {finetune_id}")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


# response_model=None: the provider documents this answer as a bare `{}` schema.
@router.post("/v1/finetune", tags=["Tasks"], summary="Finetune", response_model=None,
             operation_id="finetune_v1_finetune_post",
             responses=errors(*BODY_WRITE, 429, body=True),
             openapi_extra={**EXTRA, "requestBody": openapi_body(FinetuneInputs)})
async def create_finetune(
    request: Request, key: KeyInfo = Depends(require_key)
) -> dict[str, str]:
    body = await parse_body(request, FinetuneInputs)  # after the key: see api/body.py
    svc = _services(request)
    try:
        data = base64.b64decode(body.file_data, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        raise_errors([field_error("file_data", "Value error, file_data must be a base64 ZIP",
                                  "value_error", body.file_data[:50])])
    webhook = str(body.webhook_url) if body.webhook_url is not None else None
    why = check_url_literal(webhook, svc.settings.webhook_allow_private) if webhook else None
    if why:
        raise_errors([field_error("webhook_url", f"Value error, {why}", "value_error", webhook)])
    raise_errors(check_webhook_secret(body.webhook_secret))
    raise_errors(_check_base(body.base_model, request))
    # Decoding up to 20 images is real work: off the event loop.
    samples = await run_in_threadpool(_read_dataset, data)
    base = base_url(request, svc.settings)  # a bad Host is a 400 before anything is written
    finetune_id = str(uuid.uuid4())
    blob_key = f"training/{finetune_id}.zip"
    params: dict[str, Any] = body.model_dump(
        mode="json", exclude={"file_data", "webhook_url", "webhook_secret"})
    if body.base_model is None:
        del params["base_model"]  # FLUX.1's params and details exactly as before the extension
    params[INPUTS_PARAM] = {"file_data": blob_key}
    params["images"] = samples
    details = {**{k: v for k, v in params.items() if k not in (INPUTS_PARAM, "images")},
               "timestamp": _iso(svc.store.now()), "images": samples}
    task = task_row(svc.store, task_id=finetune_id, key_id=key.id, endpoint=TRAINING_ENDPOINT,
                    params=params, base_url=base, kind=training_kind(body.base_model),
                    webhook_url=webhook, webhook_secret=body.webhook_secret)
    put = None
    try:
        # Off the loop and bounded (a network round trip on S3); no answer in time: 503.
        put = blob_calls.start(svc, blob_calls.put_all, {blob_key: data})
        await blob_calls.settle(svc, put)
        # In a thread, bounded: the write may wait for another process's lock (503 past it).
        await run_in_threadpool(partial(
            store_training, svc.store, finetune_id=finetune_id, owner_key_id=key.id,
            comment=body.finetune_comment, trigger_word=body.trigger_word, details=details,
            task=task, active_limit=svc.settings.max_active_tasks_per_key,
            wait=svc.settings.submit_timeout_seconds, base_model=body.base_model))
    except Exception as exc:
        # No finetune row, so nothing would ever delete the zip: drop it whatever failed, in
        # the background (the store may be what failed).
        blob_calls.drop_later(svc, [blob_key], after=put)
        if isinstance(exc, TooManyActiveTasks):
            raise HTTPException(status_code=429, detail=str(exc)) from exc
        raise
    svc.task_available.set()
    return FinetuneCreated(finetune_id=finetune_id).model_dump()


def _check_base(base_model: str | None, request: Request) -> list[dict[str, Any]]:
    """A 422 naming a klein base_model this server has no model for (FLUXHOST_MODELS): no
    worker could ever train on it."""
    if base_model is None or base_model in request.app.state.served_kinds:
        return []
    served = sorted(KLEIN_TRAINING_KINDS.keys() & request.app.state.served_kinds)
    return [field_error(
        "base_model", f"Value error, this server has no model for base_model {base_model!r} "
        f"(FLUXHOST_MODELS); it trains on: FLUX.1 (base_model omitted)"
        + "".join(f", {b!r}" for b in served), "value_error", base_model)]


def _read_dataset(data: bytes) -> int:
    """Validate the zip as training will read it; the number of images, or a 422."""
    from fluxhost.training.dataset import DatasetError, read_zip

    try:
        return len(read_zip(data))
    except DatasetError as exc:
        raise_errors([field_error("file_data", f"Value error, {exc}", "value_error", None)])
        raise  # unreachable: raise_errors raised


@router.get("/v1/finetune_details", response_model=FinetuneDetailResponse, tags=UTILITY,
            summary="Finetune Details",
            description="Get details about the training parameters and other metadata connected "
            "to a specific finetune_id that was created by the user.",
            operation_id="finetune_details_v1_finetune_details_get", openapi_extra=EXTRA,
            responses=errors(403, 404))
async def finetune_details(
    request: Request, finetune_id: str = Query(..., title="Finetune Id"),
    key: KeyInfo = Depends(require_key),
) -> FinetuneDetailResponse:
    row = None
    if plausible_finetune_ref(finetune_id):  # an id no row can have is not looked up
        # Its uuid, or an uploaded LoRA's name: per key, as everywhere.
        row = find_owned_finetune(_services(request).store, finetune_id, key.id)
    if row is None:
        raise _not_found(finetune_id)
    details = {
        "finetune_comment": row.comment,
        "trigger_word": row.trigger_word,
        "timestamp": _iso(row.created_at),
        **row.details,
        "status": row.status,
    }
    if row.base_model is not None:  # FLUX.1's answer unchanged; a klein LoRA says its base
        details.update(finetune_id=row.name or row.id, id=row.id, base_model=row.base_model)
    return FinetuneDetailResponse(finetune_details=details)


@router.get("/v1/my_finetunes", response_model=MyFinetunesResponse, tags=UTILITY,
            summary="My Finetunes",
            description="List all finetune_ids created by the user",
            operation_id="my_finetunes_v1_my_finetunes_get", openapi_extra=EXTRA,
            responses=errors(403))
async def my_finetunes(
    request: Request, key: KeyInfo = Depends(require_key)
) -> MyFinetunesResponse:
    rows = list_finetunes(_services(request).store, key.id)
    # An uploaded LoRA is listed by its name: the finetune_id its endpoint takes.
    return MyFinetunesResponse(finetunes=[row.name or row.id for row in rows])


@router.post("/v1/delete_finetune", response_model=DeleteFinetuneResponse, tags=UTILITY,
             summary="Delete Finetune", description="Delete a finetune_id that was created by "
             "the user", operation_id="delete_finetune_v1_delete_finetune_post",
             responses=errors(*BODY_WRITE, 404, body=True),
             openapi_extra={**EXTRA, "requestBody": openapi_body(DeleteFinetuneInputs)})
async def delete(
    request: Request, key: KeyInfo = Depends(require_key)
) -> DeleteFinetuneResponse:
    body = await parse_body(request, DeleteFinetuneInputs)  # after the key: see api/body.py
    svc = _services(request)
    # In a thread, bounded, like create: never on the event loop. By uuid or by name.
    row = None
    if plausible_finetune_ref(body.finetune_id):
        row = await run_in_threadpool(find_owned_finetune, svc.store, body.finetune_id, key.id)
    if row is None or not await run_in_threadpool(partial(
            delete_finetune, svc.store, row.id, key.id,
            wait=svc.settings.submit_timeout_seconds)):
        raise _not_found(body.finetune_id)
    for ref in {body.finetune_id, row.id, row.name}:
        if ref is not None:
            forget_finetune(ref, key.id)
    return DeleteFinetuneResponse(
        status="success",
        message=f"Finetune {body.finetune_id} deleted",
        deleted_finetune_id=body.finetune_id,
        timestamp=_iso(svc.store.now()),
    )
