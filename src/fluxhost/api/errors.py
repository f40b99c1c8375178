"""Exceptions to responses, in one place, for the FastAPI handlers and the submit fast path."""

from __future__ import annotations

import logging

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)


def error_response(exc: Exception, where: str = "") -> JSONResponse:
    """The contract's body for an exception: `{"detail": ...}`, 422 in the pydantic shape."""
    if isinstance(exc, HTTPException):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
    if isinstance(exc, RequestValidationError):
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
    log.error("unhandled error on %s", where, exc_info=exc)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
