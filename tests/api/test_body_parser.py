"""Fuzzing the body parser (api/body.py) and the error renderer (api/errors.py).

The parser must raise nothing but its two answers (a 422 `json_invalid`, or the 400 FastAPI
gives for an unreadable body) and otherwise agree with `json.loads`, which FastAPI uses; the
renderer must turn any echoed value into JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.exceptions import HTTPException

from fluxhost.api.body import MAX_INT_DIGITS, PARSE_ERROR, decode_json
from fluxhost.api.errors import MAX_ECHO_DEPTH, error_response

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Any code point, lone surrogates included (hypothesis leaves them out unless asked).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
json_ish = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)


def refused(value: Any) -> bool:
    """What fluxhost refuses though json.loads accepts it: non-finite numbers, lone
    surrogates."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list):
        return any(refused(v) for v in value)
    if isinstance(value, dict):
        return any(refused(k) or refused(v) for k, v in value.items())
    return False


def outcome(raw: bytes) -> tuple[str, Any]:
    """("ok", value), ("422", the error) or ("400", None); anything else raised fails."""
    try:
        return "ok", decode_json(raw)
    except RequestValidationError as exc:
        (err,) = exc.errors()
        assert err["type"] == "json_invalid" and err["msg"] == "JSON decode error"
        assert err["input"] == {} and err["loc"][0] == "body"
        assert 0 <= err["loc"][1] <= len(raw)
        return "422", err
    except HTTPException as exc:
        assert (exc.status_code, exc.detail) == (400, PARSE_ERROR)
        return "400", None


def reference(raw: bytes) -> tuple[str, Any]:
    """What json.loads (FastAPI's `request.json()`) makes of `raw`."""
    try:
        return "ok", json.loads(raw)
    except json.JSONDecodeError:
        return "422", None
    except Exception:
        return "400", None


@FUZZ
@given(st.binary(max_size=200))
@example(b"\xff")
@example(b"[" * 100_000)
@example(b'"\\udfff"')
@example(b'"\xed\xbf\xbf"')
@example(b"\xff\xfe" + '"\udfff"'.encode("utf-16-le", "surrogatepass"))
@example(b"1" * (MAX_INT_DIGITS + 1))
def test_arbitrary_bytes(raw: bytes) -> None:
    got, ref = outcome(raw), reference(raw)
    if ref[0] == "ok" and not refused(ref[1]):
        assert got == ref
    elif ref[0] == "ok":
        assert got[0] == "422"  # accepted by json.loads, refused here
    else:
        assert got[0] == ref[0]  # the same status FastAPI answers


@FUZZ
@given(json_ish, st.booleans(), st.sampled_from(["utf-8", "utf-16", "utf-32"]))
@example(float("nan"), True, "utf-8")
@example(["x", {"k": -math.inf}], False, "utf-8")
@example({"\ud800": 1}, True, "utf-8")
@example("\ud83d\ude00", True, "utf-8")  # a pair as two code points: one character once read
@example(10**4000, True, "utf-8")
def test_json_values(value: Any, ascii_only: bool, encoding: str) -> None:
    doc = json.dumps(value, ensure_ascii=ascii_only)
    raw = doc.encode(encoding, "surrogatepass")
    ref = reference(raw)
    assert ref[0] == "ok"
    got = outcome(raw)
    if refused(ref[1]):
        assert got[0] == "422"
        pos = got[1]["loc"][1]
        assert doc[pos] in '"-0123456789IN', (doc, pos)  # a string, a number or a constant
    else:
        assert got == ref


@pytest.mark.parametrize(("raw", "pos", "error"), [
    (b'{"a": NaN}', 6, "NaN is not valid JSON"),
    (b'{"a": "NaN", "b": -Infinity}', 18, "-Infinity is not valid JSON"),
    (b'["1e400", 1e400]', 10, "Number out of range"),
    (b'[1e300, -1e400, NaN]', 8, "Number out of range"),
    (b'[' + b"9" * 400 + b', 1e400]', 403, "Number out of range"),  # a long int is no float
    (b'{"a": "ok", "b": "x\\udfff"}', 17, "Lone surrogate \\udfff in string: not valid Unicode"),
    (b'["\\ud83d\\ude00", "\\ud83d"]', 17,
     "Lone surrogate \\ud83d in string: not valid Unicode"),
    (b'{"\\\\udfff": "x\xed\xa0\x80"}', 12, "Lone surrogate \\ud800 in string: not valid Unicode"),
])
def test_refusals_point_at_the_token(raw: bytes, pos: int, error: str) -> None:
    kind, err = outcome(raw)
    assert kind == "422"
    assert err["loc"] == ("body", pos) and err["ctx"] == {"error": error}


def test_escaped_backslash_before_u_is_no_surrogate() -> None:
    assert decode_json(b'["\\\\udfff"]') == ["\\udfff"]


def test_integers_up_to_the_digit_limit() -> None:
    assert decode_json(b"-" + b"9" * MAX_INT_DIGITS) == -int("9" * MAX_INT_DIGITS)
    assert outcome(b"9" * (MAX_INT_DIGITS + 1))[0] == "400"


def rendered(exc: Exception) -> Any:
    response = error_response(exc)
    assert response.headers["content-type"] == "application/json"
    body = bytes(response.body)
    body.decode("utf-8")  # strict: no surrogates written
    return response.status_code, json.loads(body, parse_constant=pytest.fail)


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


echo = json_ish | st.binary(max_size=20) | st.integers(min_value=10**5000, max_value=10**5001)


@FUZZ
@given(echo)
@example(nested(10_000))
@example({"k": b"\xff\xfe"})
@example(ValueError("in ctx"))
@example({1: math.nan, None: "\udfff"})
def test_renderer_writes_json_for_any_echo(value: Any) -> None:
    error = {"type": "x", "loc": ("body", "f"), "msg": "m", "input": value, "ctx": {"v": value}}
    status, body = rendered(RequestValidationError([error]))
    assert status == 422
    (err,) = body["detail"]
    assert err["loc"] == ["body", "f"] and err["type"] == "x"
    assert rendered(HTTPException(404, detail=value))[0] == 404


def test_renderer_keeps_fastapi_s_rendering() -> None:
    error = {"type": "value_error", "loc": ("body", "a"), "msg": "Value error, no",
             "input": [1, 2.5, "é"], "ctx": {"error": ValueError("no")}}
    status, body = rendered(RequestValidationError([error]))
    assert status == 422
    assert body == {"detail": [{"type": "value_error", "loc": ["body", "a"],
                                "msg": "Value error, no", "input": [1, 2.5, "é"],
                                "ctx": {"error": {}}}]}
    deep = rendered(RequestValidationError([{**error, "input": nested(MAX_ECHO_DEPTH + 5)}]))
    cut, levels = deep[1]["detail"][0]["input"], 0
    while isinstance(cut, list):
        (cut,), levels = cut, levels + 1
    assert cut == "..." and MAX_ECHO_DEPTH - 5 < levels < MAX_ECHO_DEPTH  # cut, not emptied
    surrogate = rendered(RequestValidationError([{**error, "input": "a\udfffb", "ctx": None}]))
    assert surrogate[1]["detail"][0]["input"] == "a\ufffdb"


def test_client_gone_mid_body_is_400_as_fastapi() -> None:
    import asyncio

    from starlette.requests import Request

    from fluxhost.api.body import read_body

    messages = iter([{"type": "http.request", "body": b'{"a"', "more_body": True},
                     {"type": "http.disconnect"}])

    async def receive() -> Any:
        return next(messages)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    with pytest.raises(HTTPException) as info:
        asyncio.run(read_body(Request(scope, receive)))
    assert (info.value.status_code, info.value.detail) == (400, PARSE_ERROR)
