"""POST /v1/fluxhost/finetunes/upload: bring a FLUX.2 [klein] LoRA (a fluxhost extension; the
provider takes uploads in its dashboard). The raw .safetensors body is streamed to disk within
LORA_UPLOAD_MAX_MB, checked and converted off the event loop (engine/families/flux2/
lora_files.py), stored as a blob and registered under the key's name for it: that name is the
finetune_id of /v1/flux-2-klein-*-finetuned. Every problem is answered before anything exists."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import uuid
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from fluxhost.api.auth import SECURITY, require_key
from fluxhost.api.responses import errors
from fluxhost.api.validation import raise_errors
from fluxhost.services import Services
from fluxhost.store.finetunes import NameTaken, count_named_finetunes, create_finetune
from fluxhost.store.keys import KeyInfo
from fluxhost.wire import ErrorDetail, bounds
from fluxhost.wire.flux2_finetuned import KLEIN_BASES, FinetuneUploaded, name_problem

UPLOAD_PATH = "/v1/fluxhost/finetunes/upload"
TAGS: list[str | Enum] = ["fluxhost extensions"]
_CHUNK = 1024 * 1024  # written to disk a MiB at a time, each write on a thread
WARMUP_WAIT_SECONDS = 300.0
router = APIRouter()
log = logging.getLogger(__name__)
# Keys with an upload in progress in this process: one at a time per key, so a key cannot
# hold many times the size cap of disk and conversion memory at once.
_uploading: set[int] = set()


def _answer(description: str) -> dict[str, Any]:
    return {"model": ErrorDetail, "description": description}


# Every status the route answers, documented: the key's 403 and the store's 400/503 as on every
# route; a parameter's 422 in the pydantic shape (by loc), the file's 422 a message.
RESPONSES: dict[int | str, dict[str, Any]] = {
    **errors(400, 403, 503),
    409: _answer("This key already has a finetune of that name"),
    413: _answer("The file is over LORA_UPLOAD_MAX_MB"),
    422: {"description": "A parameter refused (by loc), or the file refused (the message "
          "names the problem)", "content": {"application/json": {"schema": {"anyOf": [
              {"$ref": "#/components/schemas/HTTPValidationError"},
              {"$ref": "#/components/schemas/ErrorDetail"}]}}}},
    429: _answer("The key's LoRA limit (MAX_LORAS_PER_KEY), or another upload of the key in "
                 "progress"),
    501: _answer("The base is not served here (no model for its kind)"),
}


def _query_error(name: str, msg: str, value: Any) -> dict[str, Any]:
    return {"type": "value_error", "loc": ["query", name], "msg": f"Value error, {msg}",
            "input": value}


def _check_query(name: str, base: str, trigger_word: str | None, comment: str) -> None:
    errors = []
    problem = name_problem(name)
    if problem:
        errors.append(_query_error("name", problem, name))
    if base not in KLEIN_BASES:
        errors.append(_query_error("base", f"base {base!r} is not one of "
                                   f"{', '.join(KLEIN_BASES)}", base))
    for field, value, limit in (("trigger_word", trigger_word, bounds.MAX_TRIGGER_WORD_CHARS),
                                ("comment", comment, bounds.MAX_COMMENT_CHARS)):
        if value is not None and (len(value) > limit or "\x00" in value):
            errors.append(_query_error(field, f"{field} must be at most {limit} characters "
                                       "without NUL", value[:50]))
    raise_errors(errors)


@router.post(UPLOAD_PATH, response_model=FinetuneUploaded, tags=TAGS,
             summary="Upload a FLUX.2 [klein] LoRA (fluxhost extension)",
             description="The raw .safetensors file as the body (application/octet-stream). "
             "Accepted key layouts: diffusers, peft, AI-Toolkit, kohya/ComfyUI; it must fit "
             "the base's transformer. The name is the finetune_id of the base's -finetuned "
             "endpoint. 409: the name is taken; 413: over LORA_UPLOAD_MAX_MB; 422: the file "
             "or a parameter is refused (the message names the problem); 429: per-key limit.",
             operation_id="fluxhost_upload_finetune",
             openapi_extra={"security": SECURITY, "requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string",
                                                         "format": "binary"}}}}},
             responses=RESPONSES)
async def upload(request: Request, name: str, base: str, trigger_word: str | None = None,
                 comment: str = "") -> FinetuneUploaded:
    key = await require_key(request)
    _check_query(name, base, trigger_word, comment)
    svc: Services = request.app.state.services
    endpoint = KLEIN_BASES[base]
    kind = svc.settings.endpoint_kind(endpoint)
    if kind not in request.app.state.served_kinds:
        raise HTTPException(status_code=501, detail=f"base {base} is not served here: this "
                            f"server has no model for its kind '{kind}' (FLUXHOST_MODELS)")
    if key.id in _uploading:
        raise HTTPException(status_code=429, detail="another upload of this key is in progress")
    _uploading.add(key.id)
    try:
        return await _upload(request, svc, key, name, base, kind, trigger_word, comment)
    finally:
        _uploading.discard(key.id)


async def _upload(request: Request, svc: Services, key: KeyInfo, name: str, base: str,
                  kind: str, trigger_word: str | None, comment: str) -> FinetuneUploaded:
    held = await run_in_threadpool(count_named_finetunes, svc.store, key.id, name)
    if held.taken:
        raise HTTPException(status_code=409, detail=f"this key already has a finetune named "
                            f"{name!r}; delete it first or choose another name")
    if held.count >= svc.settings.max_loras_per_key:
        raise HTTPException(status_code=429, detail=f"this key holds {held.count} uploaded "
                            f"LoRAs, the limit (MAX_LORAS_PER_KEY); delete one first")
    folder = svc.settings.data_dir / "tmp"
    await run_in_threadpool(partial(folder.mkdir, parents=True, exist_ok=True))
    fd, raw = tempfile.mkstemp(prefix="lora-", suffix=".upload", dir=folder)
    os.close(fd)
    src, out = Path(raw), Path(raw + ".converted")
    try:
        size = await _receive(request, src, svc.settings.lora_upload_max_mb * 1024 * 1024)
        if size == 0:
            raise HTTPException(status_code=422, detail="the body is empty: send the "
                                ".safetensors file as the request body")
        prepared = await run_in_threadpool(_prepare, svc, kind, base, src, out,
                                           _warmup_done(request))
        return await run_in_threadpool(_register, svc, key, name, base, trigger_word, comment,
                                       out, prepared)
    finally:
        for path in (src, out):
            with contextlib.suppress(OSError):
                path.unlink()


async def _receive(request: Request, dest: Path, limit: int) -> int:
    """The body into `dest`, a MiB per threaded write; 413 past `limit` bytes."""
    size, pending = 0, bytearray()
    with dest.open("wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(status_code=413, detail=f"the LoRA is over the upload "
                                    f"limit of {limit} bytes (LORA_UPLOAD_MAX_MB)")
            pending += chunk
            if len(pending) >= _CHUNK:
                await run_in_threadpool(fh.write, bytes(pending))
                pending.clear()
        if pending:
            await run_in_threadpool(fh.write, bytes(pending))
    return size


def _warmup_done(request: Request) -> Any:
    """The embedded workers' warm-up event, if any (read off the app: the API does not import
    the workers)."""
    runtime = getattr(request.app.state, "runtime", None)
    return getattr(getattr(runtime, "warmup", None), "done", None)


def _prepare(svc: Services, kind: str, base: str, src: Path, out: Path, warmup: Any) -> Any:
    # diffusers, peft and transformers import lazily, and two threads importing them at once
    # can leave one with a half-initialised module ('cannot import name ...'): wait for the
    # embedded workers' first load, which imports them, before importing them here.
    if warmup is not None:
        warmup.wait(WARMUP_WAIT_SECONDS)
    from fluxhost.engine.families.flux2.lora_files import LoraRefused, prepare, transformer_shapes
    from fluxhost.engine.modelset import resolve_model_set

    source = resolve_model_set(svc.settings).get(kind)
    if source is None:
        raise HTTPException(status_code=501, detail=f"no model for kind '{kind}'")
    try:
        shapes = _shapes(transformer_shapes, source)
    except Exception as exc:  # a hub id not in the cache, a broken directory
        log.warning("reading the %s transformer's config failed", base, exc_info=True)
        raise HTTPException(status_code=503, detail=f"the {base} transformer's config could "
                            f"not be read ({type(exc).__name__}); try again later") from exc
    try:
        return prepare(src, out, shapes, base)
    except LoraRefused as exc:
        raise HTTPException(status_code=422, detail=f"LoRA refused for {base}: {exc}") from exc


def _shapes(read: Any, source: str) -> Any:
    """`read(source)`, again after an ImportError: diffusers' lazy modules, first imported
    here while a worker thread imports them too, can fail once half-initialised."""
    for attempt in range(3):
        try:
            return read(source)
        except (ImportError, RuntimeError):  # diffusers wraps an ImportError in RuntimeError
            if attempt == 2:
                raise
            log.info("importing diffusers raced another thread; trying again")
            time.sleep(0.5)
    return None


def _register(svc: Services, key: KeyInfo, name: str, base: str, trigger_word: str | None,
              comment: str, out: Path, prepared: Any) -> FinetuneUploaded:
    finetune_id = str(uuid.uuid4())
    blob_key = f"finetunes/{finetune_id}.safetensors"
    svc.blobs.put(blob_key, out.read_bytes())
    details = {"finetune_comment": comment, "trigger_word": trigger_word, "mode": "lora",
               "finetune_type": "lora", "lora_rank": prepared.rank, "iterations": None,
               "learning_rate": None, "priority": None, "captioning": None,
               "source": "upload", "name": name, "base_model": base,
               "layout": prepared.layout, "modules": prepared.modules}
    try:
        create_finetune(svc.store, owner_key_id=key.id, comment=comment,
                        trigger_word=trigger_word or "", details=details, lora_blob=blob_key,
                        finetune_id=finetune_id, name=name, base_model=base)
    except NameTaken as exc:  # a concurrent upload of the same name from another process
        with contextlib.suppress(Exception):
            svc.blobs.delete(blob_key)
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except Exception:
        with contextlib.suppress(Exception):
            svc.blobs.delete(blob_key)
        raise
    return FinetuneUploaded(finetune_id=name, id=finetune_id, base_model=base,
                            endpoint=f"/v1/{KLEIN_BASES[base]}", trigger_word=trigger_word,
                            layout=prepared.layout, rank=prepared.rank,
                            modules=prepared.modules, bytes=prepared.size)
