"""Reading a JSON body into a wire model by hand, with FastAPI's own rules and error shapes.

The submit routes do this instead of declaring a body parameter: FastAPI's per-request
dependency and body machinery cost more than everything else on that path, and doing it here
also lets authentication answer 403 before the body is looked at, as the provider does. The
schema still reaches /openapi.json through `openapi_body` (and tests compare it)."""

from __future__ import annotations

import email.message
import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI reads a body without a content type as JSON too
    if content_type == "application/json":
        return True  # the common case, without parsing parameters
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def parse_body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    data: Any = None
    if raw:
        data = raw  # a non-JSON content type is validated as bytes (and refused), like FastAPI
        if _is_json(request.headers.get("content-type")):
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise RequestValidationError(
                    [{"type": "json_invalid", "loc": ("body", exc.pos),
                      "msg": "JSON decode error", "input": {}, "ctx": {"error": exc.msg}}],
                    body=exc.doc,
                ) from exc
    if data is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors, body=data) from exc


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """The `requestBody` FastAPI would document for a `body: model` parameter."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        },
    }


VALIDATION_ERROR_RESPONSE = {
    "description": "Validation Error",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}
