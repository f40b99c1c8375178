"""Signed, expiring downloads of result images."""

from __future__ import annotations

import math
import time

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response

from fluxhost.services import Services
from fluxhost.storage.blobs import BadBlobKey, content_type_for

router = APIRouter(tags=["Delivery"])


@router.get("/delivery/{blob_key:path}", include_in_schema=False)
def download(
    request: Request, blob_key: str, exp: str = Query(""), sig: str = Query("")
) -> Response:
    svc: Services = request.app.state.services
    now = time.time()
    problem = svc.signer.verify(blob_key, exp, sig, now=now)
    if problem is not None:
        raise HTTPException(status_code=403, detail=problem)
    try:
        path = svc.blobs.path(blob_key)
    except BadBlobKey as exc:
        raise HTTPException(status_code=404, detail="Not found") from exc
    if path is None:
        raise HTTPException(status_code=404, detail="Not found")
    return FileResponse(
        path,
        media_type=content_type_for(blob_key),
        headers={"Cache-Control": f"private, max-age={_remaining(exp, now)}"},
    )


def _remaining(exp: str, now: float) -> int:
    """Whole seconds this URL stays valid (rounded down): a cache must not serve the file
    after the URL itself has stopped working. `exp` was verified, so it is an int >= now."""
    return max(0, math.floor(int(exp) - now))
