"""Signed, expiring downloads of result images.

The API serves the bytes itself whatever the store (a local file by sendfile, an S3 object
streamed in chunks), so `result.sample` works for a client that reaches only the API, and the
signature and expiry are the API's own. `FLUXHOST_DELIVERY_REDIRECT` trades that for a 307 to a
presigned URL (the bytes then skip the API, but the client must reach the bucket)."""

from __future__ import annotations

import math
import time

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from fluxhost.api import blobs as blob_calls
from fluxhost.services import Services
from fluxhost.storage.blobs import BadBlobKey, BlobReader, BlobStore, content_type_for

router = APIRouter(tags=["Delivery"])


@router.get("/delivery/{blob_key:path}", include_in_schema=False)
async def download(
    request: Request, blob_key: str, exp: str = Query(""), sig: str = Query("")
) -> Response:
    svc: Services = request.app.state.services
    now = time.time()
    problem = svc.signer.verify(blob_key, exp, sig, now=now)
    if problem is not None:
        raise HTTPException(status_code=403, detail=problem)
    headers = {"Cache-Control": f"private, max-age={_remaining(exp, now)}"}
    try:
        # Off the event loop and bounded: an unreachable bucket is a 503 (api/blobs.py), and
        # the URL stays good for a retry.
        if svc.settings.delivery_redirect:
            url = await blob_calls.call(svc, _presign, blob_key, max(1, _remaining(exp, now)))
            if url is not None:
                return RedirectResponse(url, status_code=307,
                                        headers={"Cache-Control": "no-store"})
        blob = await blob_calls.call(svc, _open, blob_key)
    except BadBlobKey as exc:
        raise HTTPException(status_code=404, detail="Not found") from exc
    media_type = content_type_for(blob_key)
    if blob.path is not None:
        return FileResponse(blob.path, media_type=media_type, headers=headers)
    # Chunks are read on Starlette's threadpool, each within the request store's budget.
    return StreamingResponse(blob.chunks, media_type=media_type,
                             headers={**headers, "Content-Length": str(blob.size)})


def _open(blobs: BlobStore, blob_key: str) -> BlobReader:
    blob = blobs.open(blob_key)
    if blob is None:
        raise HTTPException(status_code=404, detail="Not found")
    return blob


def _presign(blobs: BlobStore, blob_key: str, remaining: int) -> str | None:
    """The store's own URL, valid no longer than this one; None where the store has none.
    Existence is checked first, so an expired-and-purged result is this API's 404, not the
    store's."""
    if not blobs.exists(blob_key):
        raise HTTPException(status_code=404, detail="Not found")
    return blobs.presign(blob_key, remaining)


def _remaining(exp: str, now: float) -> int:
    """Whole seconds this URL stays valid (rounded down): a cache must not serve the file
    after the URL itself has stopped working. `exp` was verified, so it is an int >= now."""
    return max(0, math.floor(int(exp) - now))
