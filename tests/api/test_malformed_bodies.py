"""Malformed bodies on every route that takes one: always a 4xx with the contract's JSON body.

FastAPI's rules (fastapi/routing.py) are mirrored: a `json.JSONDecodeError` is a 422
`json_invalid`; any other failure to read the body (bad UTF-8, nesting too deep, an integer
too long for Python to convert) is `400 {"detail": "There was an error parsing the body"}`.
Where FastAPI itself would answer 500 (NaN, Infinity and out-of-range numbers, lone
surrogates: their echo cannot be encoded), the body is refused as `json_invalid`."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import Response

from fluxhost.api.app import create_app
from fluxhost.settings import Settings
from tests.conftest import Tenant

GENERATION = [
    "/v1/flux-pro-finetuned",
    "/v1/flux-pro-1.1-ultra-finetuned",
    "/v1/flux-pro-1.0-fill-finetuned",
    "/v1/flux-pro-1.0-canny-finetuned",
    "/v1/flux-pro-1.0-depth-finetuned",
]
FINETUNE = "/v1/finetune"
DELETE = "/v1/delete_finetune"
BODY_ROUTES = [*GENERATION, FINETUNE, DELETE]
PARSE_ERROR = {"detail": "There was an error parsing the body"}
JSON = "application/json"


@pytest.fixture
def raw_client(settings: Settings, services: Any) -> Any:
    """Server errors come back as responses (as a client sees them), not raised into the test."""
    app = create_app(settings, services)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def post(client: TestClient, tenant: Tenant, path: str, raw: bytes,
         content_type: str = JSON) -> Any:
    return client.post(path, content=raw,
                        headers={**tenant.headers, "content-type": content_type})


def valid_fields(path: str, tenant: Tenant) -> dict[str, Any]:
    """A body that passes the schema on `path`, so later checks are reached."""
    if path == FINETUNE:
        return {"file_data": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==", "finetune_comment": "c",
                "mode": "general"}
    body: dict[str, Any] = {"finetune_id": tenant.finetune_id}
    if path.endswith("fill-finetuned"):
        body["image"] = "x"
    if path.endswith(("canny-finetuned", "depth-finetuned")):
        body.update(control_image="x", prompt="p")
    return body


def assert_json_invalid(r: Any) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == JSON
    (err,) = r.json()["detail"]
    assert err["type"] == "json_invalid" and err["msg"] == "JSON decode error"
    assert err["input"] == {} and err["loc"][0] == "body" and isinstance(err["loc"][1], int)
    return err


def assert_parse_error(r: Any) -> None:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == JSON
    assert r.json() == PARSE_ERROR


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_invalid_utf8_is_400(shared_raw_client: TestClient, shared_tenant: Tenant,
                             path: str) -> None:
    assert_parse_error(post(shared_raw_client, shared_tenant, path,
                       b'{"finetune_id": "\xff\xfe\xfd"}'))


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_latin1_charset_is_400(shared_raw_client: TestClient, shared_tenant: Tenant,
                               path: str) -> None:
    # FastAPI reads JSON as UTF-8 (or 16/32) whatever the charset parameter says.
    raw = json.dumps({"finetune_id": "café", "prompt": "café"}, ensure_ascii=False)
    r = post(shared_raw_client, shared_tenant, path, raw.encode("latin-1"),
             f"{JSON}; charset=latin-1")
    assert_parse_error(r)


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_100000_deep_nesting_is_400(shared_raw_client: TestClient, shared_tenant: Tenant,
                                    path: str) -> None:
    assert_parse_error(post(shared_raw_client, shared_tenant, path,
                       b"[" * 100_000 + b"]" * 100_000))
    nested = b'{"finetune_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert_parse_error(post(shared_raw_client, shared_tenant, path, nested))


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_5000_digit_integer_is_400(shared_raw_client: TestClient, shared_tenant: Tenant,
                                   path: str) -> None:
    raw = b'{"seed": 1' + b"0" * 4999 + b', "iterations": 1, "finetune_id": "x"}'
    assert_parse_error(post(shared_raw_client, shared_tenant, path, raw))


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_json_invalid(shared_raw_client: TestClient, shared_tenant: Tenant,
                                             path: str,
                                             literal: str) -> None:
    fields = valid_fields(path, shared_tenant)
    number_field = "iterations" if path == FINETUNE else "finetune_strength"
    head = json.dumps(fields)[:-1]
    raw = f'{head}, "{number_field}": {literal}}}'.encode()
    err = assert_json_invalid(post(shared_raw_client, shared_tenant, path, raw))
    assert err["loc"][1] == raw.decode().index(literal)


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_non_finite_in_a_string_field_is_json_invalid(shared_raw_client: TestClient,
                                                      shared_tenant: Tenant,
                                                      path: str) -> None:
    assert_json_invalid(post(shared_raw_client, shared_tenant, path, b'{"finetune_id": NaN}'))


@pytest.mark.parametrize("field", ["finetune_id", "finetune_comment", "prompt", "key"])
@pytest.mark.parametrize("path", BODY_ROUTES)
def test_lone_surrogate_is_json_invalid(shared_raw_client: TestClient, shared_tenant: Tenant,
                                        path: str,
                                        field: str) -> None:
    fields = valid_fields(path, shared_tenant)
    head = json.dumps(fields)[:-1]
    value = '"x\\udfff"'
    if field == "prompt":
        value = '"' + "p" * 20_000 + '\\udfff"'  # over MAX_PROMPT_CHARS: its 422 echoes a prefix
    if field == "key":  # a lone surrogate in an object key
        raw = f'{head}, "k\\ud800": 1}}'.encode()
    else:
        raw = f'{head}, "{field}": {value}}}'.encode()
    err = assert_json_invalid(post(shared_raw_client, shared_tenant, path, raw))
    assert "surrogate" in err["ctx"]["error"]


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_raw_surrogate_bytes_are_refused(shared_raw_client: TestClient, shared_tenant: Tenant,
                                         path: str) -> None:
    # json.loads decodes UTF-8 with 'surrogatepass': encoded surrogates become lone ones.
    raw = b'{"finetune_id": "x\xed\xbf\xbf", "finetune_comment": "x\xed\xa0\x80"}'
    assert_json_invalid(post(shared_raw_client, shared_tenant, path, raw))


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_valid_surrogate_pair_is_accepted(shared_raw_client: TestClient, shared_tenant: Tenant,
                                          path: str) -> None:
    fields = valid_fields(path, shared_tenant)
    head = json.dumps(fields)[:-1]
    raw = f'{head}, "unknown": "\\ud83d\\ude00"}}'.encode()  # an emoji, escaped as a pair
    r = post(shared_raw_client, shared_tenant, path, raw)
    assert r.status_code != 500 and r.headers["content-type"] == JSON
    assert not (r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid")


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_deep_but_parseable_input_is_echoed_as_json(shared_raw_client: TestClient,
                                                    shared_tenant: Tenant,
                                                    path: str) -> None:
    # Parses (within the recursion limit), then fails validation with the nesting echoed.
    field = "finetune_comment" if path == FINETUNE else "finetune_id"
    raw = b'{"' + field.encode() + b'": ' + b"[" * 900 + b"]" * 900 + b"}"
    r = post(shared_raw_client, shared_tenant, path, raw)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == JSON
    assert any(e["loc"] == ["body", field] for e in r.json()["detail"])


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_malformed_body_with_a_bad_key_is_403(shared_raw_client: TestClient, path: str) -> None:
    # Auth is checked before the body is looked at, as the provider does.
    for raw in (b"\xff", b"{", b"[" * 100_000, b'{"finetune_id": NaN}'):
        r = shared_raw_client.post(path, content=raw, headers={"x-key": "nope",
                                   "content-type": JSON})
        assert r.status_code == 403, (raw[:10], r.text)


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_truncated_json_is_json_invalid_as_fastapi(shared_raw_client: TestClient,
                                                   shared_tenant: Tenant,
                                                   path: str) -> None:
    r = post(shared_raw_client, shared_tenant, path, b'{"finetune_id": ')
    err = assert_json_invalid(r)
    assert err["loc"] == ["body", 16] and err["ctx"] == {"error": "Expecting value"}


def test_unexpected_errors_are_json_500(settings: Settings, services: Any,
                                        monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """A bug anywhere (a handler, a response, the error renderer itself) answers JSON 500 and
    logs, never a plain-text body."""
    from fluxhost.api import errors
    from fluxhost.api.routers import generate

    async def raising(request: Request) -> Response:
        raise RuntimeError("boom in a handler")

    class Unsendable(Response):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            raise RuntimeError("boom while sending")

    async def unsendable(request: Request) -> Response:
        return Unsendable()

    monkeypatch.setitem(generate.FAST_HANDLERS, GENERATION[0], raising)
    monkeypatch.setitem(generate.FAST_HANDLERS, GENERATION[1], unsendable)
    app = create_app(settings, services)
    with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR):
        for path, message in ((GENERATION[0], "boom in a handler"),
                              (GENERATION[1], "boom while sending")):
            r = c.post(path, json={})
            assert (r.status_code, r.json()) == (500, {"detail": "Internal Server Error"})
            assert r.headers["content-type"] == JSON
            assert message in caplog.text

        def failing_render(exc: Exception, where: str) -> Response:
            raise RuntimeError("the renderer failed")

        monkeypatch.setattr(errors, "_render", failing_render)
        for method, path in (("POST", GENERATION[2]), ("POST", DELETE),
                             ("GET", "/v1/get_result")):
            r = c.request(method, path, content=b"{", headers={"x-key": "nope"})
            assert r.status_code == 500 and r.headers["content-type"] == JSON, (path, r.text)
            assert r.json() == {"detail": "Internal Server Error"}
        assert "the renderer failed" in caplog.text


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_non_json_content_type_with_bad_utf8_is_422(shared_raw_client: TestClient,
                                                    shared_tenant: Tenant,
                                                     path: str) -> None:
    # FastAPI validates such a body as bytes (refused) and echoes it decoded: bad UTF-8 in that
    # echo made its encoder fail; it is written with replacement characters instead.
    r = post(shared_raw_client, shared_tenant, path, b"\xff\xfe not json", "text/plain")
    assert r.status_code == 422, r.text
    (err,) = r.json()["detail"]
    assert err["type"] == "model_type" and err["loc"] == ["body"]
    assert err["input"] == "\ufffd\ufffd not json"


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_streamed_body_over_the_bound_is_413(make_settings: Any, services: Any, tenant: Tenant,
                                             path: str) -> None:
    # Parsed by hand on every body route: the size limit's 413 still comes through as is.
    def chunks() -> Any:  # no Content-Length: the bound holds while streaming
        yield b'{"finetune_id": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    with TestClient(create_app(make_settings(max_body_bytes=2048), services)) as c:
        r = c.post(path, headers={**tenant.headers, "content-type": JSON}, content=chunks())
        assert r.status_code == 413, r.text
        assert r.json() == {"detail": "Request body too large: the limit is 2048 bytes"}
