"""The error answers each route documents in /openapi.json, written once.

The provider's schema documents only 200 and 422; these are the other statuses fluxhost
answers (every one with the `{"detail": ...}` body), so that a client generated from our
schema, or a schema-driven fuzzer, knows them."""

from __future__ import annotations

from typing import Any

from fluxhost.api.body import VALIDATION_ERROR_RESPONSE
from fluxhost.wire import ErrorDetail

DESCRIPTIONS = {
    400: "Unreadable body (not UTF-8, nested too deep, an integer too long), an invalid Host "
         "or X-Forwarded-* header, or a row the database refused",
    403: "Missing or invalid x-key",
    404: "Unknown finetune_id, or one owned by another key",
    413: "Request body too large",
    429: "Too many active tasks for this key",
    503: "Database busy, or the blob store did not answer: nothing was stored; retry after "
         "Retry-After seconds",
}


def errors(*codes: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: `{"detail"}` answers for `codes`; with `body`, also the 422 in
    the pydantic shape, which FastAPI documents by itself only for parameters it parses (query
    parameters), not for the bodies parsed by hand (api/body.py)."""
    documented: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorDetail, "description": DESCRIPTIONS[code]} for code in codes
    }
    if body:
        documented[422] = VALIDATION_ERROR_RESPONSE
    return documented


# A route that takes a body and writes it.
BODY_WRITE = (400, 403, 413, 503)
