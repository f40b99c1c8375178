"""The generation endpoints, one route per catalog record (fluxhost.catalog: the five finetuned
ones, the ten of base-api.openapi.json, the seven of flux2-api.openapi.json and the two klein
-finetuned ones): validate, queue, answer with a polling URL."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from fluxhost import catalog
from fluxhost.api import blobs as blob_calls
from fluxhost.api.auth import SECURITY, require_key
from fluxhost.api.body import openapi_body, parse_body
from fluxhost.api.cache import TTLCache
from fluxhost.api.imagefetch import fetch_urls
from fluxhost.api.images import DecodeLimiter, check_images
from fluxhost.api.pricing import FIGURES_PARAM
from fluxhost.api.pricing import figures as request_figures
from fluxhost.api.responses import BODY_WRITE, errors
from fluxhost.api.urls import base_url
from fluxhost.api.validation import (
    check_prompt,
    check_webhook_secret,
    field_error,
    plausible_finetune_ref,
    raise_errors,
)
from fluxhost.catalog import Endpoint
from fluxhost.services import Services
from fluxhost.store.finetunes import find_owned_finetune
from fluxhost.store.keys import KeyInfo
from fluxhost.store.tasks import INPUTS_PARAM, TooManyActiveTasks
from fluxhost.webhooks.targets import check_url_literal
from fluxhost.wire import AsyncResponse, AsyncWebhookResponse, FinetuneCannyInputs, GenerationInputs
from fluxhost.wire.base_inputs import BaseGenerationInputs, CannyInputs
from fluxhost.wire.flux2 import Flux2BaseInputs
from fluxhost.wire.flux2_finetuned import Flux2KleinFinetunedInputs
from fluxhost.wire.outputs import AsyncWebhookResponseWithPolling

router = APIRouter()
log = logging.getLogger(__name__)

# A finetuned request (ownership checked) or a base or FLUX.2 one (no finetune).
Inputs = GenerationInputs | BaseGenerationInputs | Flux2BaseInputs
SEED_MAX = 2**32 - 1


def services(request: Request) -> Services:
    return request.app.state.services


# Positive answers only, briefly: a deleted finetune is still refused by the worker. A
# finetune_id (its uuid, or an uploaded LoRA's per-key name) -> (uuid, base model).
_owned: TTLCache[tuple[str, int], tuple[str, str | None]] = TTLCache(5.0)


def forget_finetune(finetune_id: str, key_id: int) -> None:
    """After a delete: this process answers 404 at once (others within the cache's 5 s)."""
    _owned.drop((finetune_id, key_id))


def _owned_finetune(svc: Services, ref: str, key_id: int) -> tuple[str, str | None] | None:
    """(uuid, base_model) of the key's finetune named or numbered `ref`; None: not this key's."""
    hit = _owned.get((ref, key_id))
    if hit:
        return hit
    if not plausible_finetune_ref(ref):
        return None  # no row can have it: no query
    row = find_owned_finetune(svc.store, ref, key_id)
    if row is None:
        return None
    _owned.put((ref, key_id), (row.id, row.base_model))
    return row.id, row.base_model


def _finetune_for(svc: Services, record: Endpoint, ref: str, key_id: int) -> str:
    """The uuid the task runs (the worker and adapter affinity know finetunes by it); 404 for
    an unknown or another key's, 422 naming a finetune made for another base."""
    owned = _owned_finetune(svc, ref, key_id)
    if owned is None:
        raise HTTPException(status_code=404, detail=f"Finetune not found: {ref}")
    finetune_id, made_for = owned
    if made_for != record.lora_base:
        have = f"a FLUX.2 [{made_for}] LoRA" if made_for else "a FLUX.1 finetune"
        serves = (f"FLUX.2 [{record.lora_base}] LoRAs" if record.lora_base
                  else "FLUX.1 finetunes")
        raise_errors([field_error("finetune_id", f"Value error, finetune {ref!r} is {have}; "
                                  f"/v1/{record.name} serves {serves}", "value_error", ref)])
    return finetune_id


def _check_thresholds(body: Inputs) -> list[dict[str, Any]]:
    if not isinstance(body, FinetuneCannyInputs | CannyInputs):
        return []
    low, high = body.canny_low_threshold, body.canny_high_threshold
    low = 50 if low is None else low
    high = 200 if high is None else high
    if low <= high:
        return []
    return [field_error("canny_low_threshold", f"Value error, canny_low_threshold ({low}) must "
                        f"not be above canny_high_threshold ({high})", "value_error", low)]


async def submit(
    endpoint: str, body: Inputs, request: Request, key: KeyInfo
) -> Response:
    svc = services(request)
    settings = svc.settings
    errors = check_prompt("prompt", body.prompt, settings.max_prompt_chars)
    # Image URLs fetched, then every image decoded, each in threads bounded per key: never on
    # the event loop (api/imagefetch.py, api/images.py).
    fetched, fetch_errors = await fetch_urls(request.app.state.image_urls,
                                             request.app.state.fetches, key.id, body)
    limiter: DecodeLimiter = request.app.state.decodes
    checked, image_errors = await limiter.run(key.id, check_images, body,
                                              settings.max_image_pixels,
                                              settings.max_request_pixels, fetched)
    errors += fetch_errors + image_errors
    images = {name: image.raw for name, image in checked.items()}
    webhook = str(body.webhook_url) if body.webhook_url is not None else None
    if webhook is not None:
        reason = check_url_literal(webhook, settings.webhook_allow_private)
        if reason:
            errors.append(field_error("webhook_url", f"Value error, {reason}", "value_error",
                                      webhook))
    errors += check_webhook_secret(body.webhook_secret)
    errors += _check_thresholds(body)
    raise_errors(errors)
    base = base_url(request, settings)  # a bad Host is a 400 before anything is written

    record = catalog.get(endpoint)
    finetune_id = (_finetune_for(svc, record, body.finetune_id, key.id)
                   if isinstance(body, GenerationInputs | Flux2KleinFinetunedInputs) else None)

    params = body.params()
    if finetune_id is not None:
        params["finetune_id"] = finetune_id  # a name resolved now: the worker finds it by id
    if params.get("seed") is None:
        # Fixed at submit so a retried task (its worker died) draws the same image.
        params["seed"] = secrets.randbelow(SEED_MAX)
    task_id = str(uuid.uuid4())
    # Input images go to the blob store (any worker can read them), not into the task row.
    input_keys = {name: f"inputs/{task_id}-{name}.bin" for name in images}
    for name in input_keys:
        params[name] = None
    params[INPUTS_PARAM] = input_keys
    # input_mp, output_mp, cost: answered now, and kept on the task for its usage record.
    sizes = {name: image.size for name, image in checked.items()}
    figures = request_figures(endpoint, params, sizes, settings).as_dict()
    params[FIGURES_PARAM] = figures
    put = None
    try:
        if input_keys:  # off the event loop and bounded: on S3 each put is a network round trip
            puts = {blob_key: images[name] for name, blob_key in input_keys.items()}
            put = blob_calls.start(svc, blob_calls.put_all, puts)
            await blob_calls.settle(svc, put)  # a store that does not answer: 503
        await svc.submitter.submit(
            task_id=task_id,
            key_id=key.id,
            endpoint=endpoint,
            kind=settings.endpoint_kind(endpoint),
            params=params,
            base_url=base,
            webhook_url=webhook,
            webhook_secret=body.webhook_secret,
            active_limit=settings.max_active_tasks_per_key,
        )
    except Exception as exc:
        # No row, so nothing will ever purge the inputs: drop them whatever the failure, in
        # the background (the store may be what failed). (Not on cancellation, a
        # BaseException: the row may still be committed after it.)
        blob_calls.drop_later(svc, input_keys.values(), after=put)
        if isinstance(exc, TooManyActiveTasks):
            raise HTTPException(status_code=429, detail=str(exc)) from exc
        raise
    svc.task_available.set()
    polling_url = f"{base}/v1/get_result?id={task_id}"
    if webhook is not None:
        answer: Any = AsyncWebhookResponseWithPolling(
            id=task_id, status="Pending", webhook_url=webhook, polling_url=polling_url,
            **figures,
        )
    else:
        answer = AsyncResponse(id=task_id, polling_url=polling_url, **figures)
    # exclude_unset: the optional figures are sent when given, null included.
    return Response(answer.model_dump_json(exclude_unset=True), media_type="application/json")


def refuse_unserved(endpoint: str, request: Request) -> None:
    """501 for an endpoint whose kind this server's configuration has no model for: no
    worker configured as it is could ever run the task (FLUXHOST_MODELS, /ready)."""
    settings = services(request).settings
    kind = settings.endpoint_kind(endpoint)
    if kind not in request.app.state.served_kinds:
        raise HTTPException(status_code=501, detail=(
            f"Endpoint /v1/{endpoint} is not served here: this server has no model for its "
            f"kind '{kind}' (FLUXHOST_MODELS); GET /ready lists the endpoints it serves"))


SubmitAnswer = AsyncResponse | AsyncWebhookResponse
# Path -> handler, for api/fastpath.py.
FAST_HANDLERS: dict[str, Callable[[Request], Awaitable[Response]]] = {}


def _route(record: Endpoint) -> None:
    endpoint, model = record.name, record.model

    # async on purpose: the checks are CPU-bound and short, and the write is handed to the
    # group-commit thread; no threadpool hop (and GIL hand-offs) per request. Auth, then the
    # body (see api/body.py): a bad key is 403 whatever the body holds, as the provider does.
    async def handler(request: Request) -> Response:
        key = await require_key(request)
        refuse_unserved(endpoint, request)  # before the body is read: nothing can run it
        body = await parse_body(request, model)
        return await submit(endpoint, body, request, key)

    handler.__name__ = record.operation_id
    FAST_HANDLERS[record.path] = handler
    router.post(
        record.path,
        response_model=SubmitAnswer,
        summary=record.summary,
        description=record.description,
        operation_id=record.operation_id,
        tags=[record.tag],
        # 404: an unknown or another's finetune
        responses=errors(*BODY_WRITE, *((404,) if record.finetuned else ()), 429, body=True),
        openapi_extra={"security": SECURITY, "requestBody": openapi_body(model)},
    )(handler)


for _record in catalog.ENDPOINTS:
    _route(_record)
