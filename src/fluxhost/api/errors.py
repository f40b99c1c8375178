"""Exceptions to responses, in one place, for the FastAPI handlers, the submit fast path and the
app's last-resort guard.

`error_response` never raises: whatever an error echoes (pydantic puts the offending `input` in
every 422) is made encodable first, and if rendering fails anyway the answer is still the JSON
500 below, so no client ever sees a plain-text body."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from fluxhost.store.outage import is_unreachable
from fluxhost.store.store import WriteBusy
from fluxhost.store.tasks import SubmissionRejected

log = logging.getLogger(__name__)

# A write that could not get the database's write lock within SUBMIT_TIMEOUT_SECONDS (another
# process holds it: a CLI command, a second server, a backup). Nothing was written.
BUSY_DETAIL = ("Service busy: the database could not take this write in time; nothing was "
               "stored, retry later")
BUSY_RETRY_AFTER = "1"
# The database cannot be reached (down, restarting, network). The reason, with the host, goes
# to the log once per outage (store/outage.py), never to the client.
UNAVAILABLE_DETAIL = "Service unavailable: the database cannot be reached; retry later"
UNAVAILABLE_RETRY_AFTER = "5"
# The border checks keep every value inside its column, so this answers only what they missed;
# the reason (database internals) goes to the log, not to the client.
SUBMISSION_REFUSED = "The submission was refused by the database: a value is outside its bounds"

INTERNAL_ERROR = b'{"detail":"Internal Server Error"}'
# Echoed containers deeper than this are cut (the encoders recurse; bodies may nest ~1000 deep).
MAX_ECHO_DEPTH = 32
# json.dumps writes ints with repr, which refuses more than sys.get_int_max_str_digits() (4300
# by default); below this many bits an int is always short enough.
SAFE_INT_BITS = 13_000


def _safe_str(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:  # lone surrogates: U+FFFD in their place
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _safe_int(value: int) -> int | str:
    if value.bit_length() < SAFE_INT_BITS:
        return value
    try:
        int.__repr__(value)
        return value
    except ValueError:
        return f"<integer of {value.bit_length()} bits>"


def _safe(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON data that json.dumps(allow_nan=False) always accepts."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _safe_str(value)
    if isinstance(value, int):
        return _safe_int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # as FastAPI writes responses
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if depth >= MAX_ECHO_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {_safe_key(k): _safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe(v, depth + 1) for v in value]
    try:
        encoded = jsonable_encoder(value)  # models, enums, exceptions in ctx ({}), as FastAPI
    except Exception:
        return _safe_str(repr(value))
    return _safe(encoded, depth + 1)


def _safe_key(key: Any) -> str:
    return _safe_str(key if isinstance(key, str) else str(key))


def json_bytes(content: Any) -> bytes:
    """What Starlette's JSONResponse writes for `content`, after making it encodable."""
    return json.dumps(_safe(content), ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")


def json_response(content: Any, status_code: int,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(content), status_code=status_code, headers=headers,
                    media_type="application/json")


def internal_error() -> Response:
    return Response(INTERNAL_ERROR, status_code=500, media_type="application/json")


def _render(exc: Exception, where: str) -> Response:
    if isinstance(exc, HTTPException):
        return json_response({"detail": exc.detail}, exc.status_code,
                             getattr(exc, "headers", None))
    if isinstance(exc, RequestValidationError):
        return json_response({"detail": exc.errors()}, 422)
    if isinstance(exc, WriteBusy):
        log.warning("write lock busy on %s: %s; answered 503", where, exc)
        return json_response({"detail": BUSY_DETAIL}, 503, {"Retry-After": BUSY_RETRY_AFTER})
    if is_unreachable(exc):  # logged by the store's outage report, not once per request
        return json_response({"detail": UNAVAILABLE_DETAIL}, 503,
                             {"Retry-After": UNAVAILABLE_RETRY_AFTER})
    if isinstance(exc, SubmissionRejected):
        log.warning("submission refused on %s: %s; answered 400", where, exc.reason)
        return json_response({"detail": SUBMISSION_REFUSED}, 400)
    log.error("unhandled error on %s", where, exc_info=exc)
    return internal_error()


def error_response(exc: Exception, where: str = "") -> Response:
    """The contract's body for an exception: `{"detail": ...}`, 422 in the pydantic shape.
    Never raises."""
    try:
        return _render(exc, where)
    except Exception as failure:
        log.error("could not render %r on %s", exc, where, exc_info=failure)
        return internal_error()


async def send_internal_error(send: Any) -> None:
    """A JSON 500 straight onto an ASGI `send`, for when nothing else could answer."""
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(INTERNAL_ERROR)).encode())]})
    await send({"type": "http.response.body", "body": INTERNAL_ERROR})
