"""Reading a JSON body into a wire model by hand, with FastAPI's own rules and error shapes.

Every route that takes a body (the submit routes, /v1/finetune, /v1/delete_finetune)
does this instead of declaring a body parameter: FastAPI's per-request dependency and body
machinery cost more than everything else on the submit path, and doing it here also lets
authentication answer 403 before the body is looked at, as the provider does. The schema still
reaches /openapi.json through `openapi_body` (and tests compare it).

FastAPI's rules (fastapi/routing.py, `get_request_handler`), mirrored: a `json.JSONDecodeError`
is a 422 `json_invalid` at its position; any other failure while reading or decoding (bad
UTF-8, nesting past the recursion limit, an integer past Python's 4300 digits, the client going
away) is `400 {"detail": "There was an error parsing the body"}`. Beyond FastAPI, what it would
accept and then fail to store or echo (ending in a 500) is refused as `json_invalid` too:
NaN/Infinity (not JSON), numbers that overflow a float, and lone UTF-16 surrogates."""

from __future__ import annotations

import email.message
import json
import math
import re
from typing import Any, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

M = TypeVar("M", bound=BaseModel)

PARSE_ERROR = "There was an error parsing the body"
# CPython's default `sys.get_int_max_str_digits()`, fixed here so that a process that raises
# its own limit does not open the quadratic int parse to bodies.
MAX_INT_DIGITS = 4300
# Bodies up to this size are parsed on the event loop (microseconds; a thread hop costs more);
# larger ones (base64 images, up to MAX_BODY_BYTES) in a thread, so a big body never holds up
# another request.
INLINE_BODY_BYTES = 64 * 1024
# Models documented as request bodies (by `openapi_body`); the app adds them to components.
BODY_MODELS: list[type[BaseModel]] = []

# A surrogate escape (\uD800-\uDFFF): the decoder joins a valid pair, so a hint only.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# JSON tokens that can be refused, and strings (skipped whole, so their insides never match).
_TOKEN = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"|-?(?:Infinity|NaN)|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?', re.DOTALL
)


class _NotJson(Exception):
    """Raised from json.loads' hooks for a token fluxhost refuses; carries the reason."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJson("Number out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:  # int() itself says the same at its default
        raise ValueError(f"integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def _json_invalid(pos: int, error: str, doc: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "json_invalid", "loc": ("body", pos), "msg": "JSON decode error",
          "input": {}, "ctx": {"error": error}}],
        body=doc,
    )


def _refused_token_pos(text: str) -> int:
    """Where the first token the hooks refuse starts (json.loads parses in document order)."""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token.lstrip("-")[0] in "IN":  # Infinity, NaN
            return match.start()
        if token[0] != '"' and any(c in token for c in ".eE") and not math.isfinite(
                float(token)):
            return match.start()  # a float that overflows
    return 0


def _lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in `text`, if any."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _find_lone_surrogate(value: Any) -> bool:
    """Whether any string (or key) in a parsed JSON value holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _lone_surrogate(item) is not None:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _surrogate_error(text: str) -> RequestValidationError:
    for match in _TOKEN.finditer(text):
        if match.group()[0] == '"':
            found = _lone_surrogate(json.loads(match.group()))
            if found is not None:
                return _json_invalid(match.start(), f"Lone surrogate \\u{ord(found):04x} in "
                                     "string: not valid Unicode", text)
    return _json_invalid(0, "Lone surrogate in string: not valid Unicode", text)


def _holds_lone_surrogate(text: str, value: Any) -> bool:
    # A surrogate decoded from the bytes (UTF-8 is decoded with 'surrogatepass', as json.loads
    # does; UTF-16 pairs are joined) is unpaired wherever it is; an escaped one only if the
    # decoder did not join it with the next, which the parsed value tells.
    if not text.isascii() and _lone_surrogate(text) is not None:
        return True
    return ("\\u" in text and _SURROGATE_ESCAPE.search(text) is not None
            and _find_lone_surrogate(value))


# One decoder: json.loads with keyword arguments would build a new one for every body.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float,
                            parse_int=_bounded_int)


def decode_json(raw: bytes) -> Any:
    """`raw` parsed as FastAPI's `request.json()` (json.loads) would, minus what cannot be
    stored or echoed. Raises only `RequestValidationError` (422 json_invalid) or
    `HTTPException` (400)."""
    text = ""
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")  # as json.loads does
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise _json_invalid(exc.pos, exc.msg, exc.doc) from exc
    except _NotJson as exc:
        raise _json_invalid(_refused_token_pos(text), str(exc), text) from exc
    except Exception as exc:  # UnicodeDecodeError, RecursionError, ValueError: as FastAPI
        raise HTTPException(status_code=400, detail=PARSE_ERROR) from exc
    if _holds_lone_surrogate(text, value):
        raise _surrogate_error(text)
    return value


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # lenient, as FastAPI was before its `strict_content_type`
    if content_type == "application/json":
        return True  # the common case, without parsing parameters
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def read_body(request: Request) -> Any:
    """The body as FastAPI hands it to validation: parsed JSON, the raw bytes for another
    content type (refused by the model, like FastAPI), or None when empty."""
    try:
        raw = await request.body()
    except HTTPException:
        raise  # the size limit's 413, as FastAPI re-raises it
    except Exception as exc:  # the client went away mid-body, and the like
        raise HTTPException(status_code=400, detail=PARSE_ERROR) from exc
    if not raw:
        return None
    if not _is_json(request.headers.get("content-type")):
        return raw
    if len(raw) > INLINE_BODY_BYTES:
        return await run_in_threadpool(decode_json, raw)
    return decode_json(raw)


async def parse_body(request: Request, model: type[M]) -> M:
    data = await read_body(request)
    if data is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    if len(await request.body()) > INLINE_BODY_BYTES:  # read already: cached
        return await run_in_threadpool(validate_body, model, data)
    return validate_body(model, data)


def validate_body(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors, body=data) from exc


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """The `requestBody` FastAPI would document for a `body: model` parameter. The model is
    registered so that the app documents it under components."""
    if model not in BODY_MODELS:
        BODY_MODELS.append(model)
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
