"""Bad input gets a 4xx with the contract's body, field by field from the spec's own bounds."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fluxhost import catalog
from fluxhost.api.app import create_app
from tests.conftest import CONTRACT_DIR, Tenant

SPEC = json.loads((CONTRACT_DIR / "finetune-api.openapi.json").read_text())
SCHEMAS = SPEC["components"]["schemas"]
# The finetune family: path -> its request schema's name in the spec (tests/wire checks that
# these are the spec's generation operations and that the served schemas equal the spec's).
ENDPOINTS = {e.path: e.model.__name__ for e in catalog.ENDPOINTS
             if e.finetuned and e.lora_base is None}  # FLUX.1 finetunes: this file's


def png_b64(size: tuple[int, int] = (64, 64), mode: str = "RGB") -> str:
    buf = io.BytesIO()
    Image.new(mode, size, (10, 20, 30) if mode == "RGB" else (0, 0, 0, 0)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def valid_body(schema_name: str, finetune_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in SCHEMAS[schema_name]["required"]:
        body[name] = {"finetune_id": finetune_id, "prompt": "p"}.get(name, png_b64())
    if "image" in body:  # fill: a transparent image carries its own mask
        body["image"] = png_b64(mode="RGBA")
    return body


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    for branch in schema.get("anyOf", [schema]):
        if "minimum" in branch or "maximum" in branch:
            return branch
    return {}


def bound_cases(endpoints: dict[str, str] | None = None,
                schemas: dict[str, Any] | None = None) -> list[tuple[str, str, Any]]:
    """(path, field, bad value) for every min, max, multipleOf, enum and type in a spec (the
    finetune family's unless given another's `endpoints` path -> schema name and `schemas`)."""
    endpoints = ENDPOINTS if endpoints is None else endpoints
    schemas = SCHEMAS if schemas is None else schemas
    cases = []
    for path, name in endpoints.items():
        for field, schema in schemas[name]["properties"].items():
            b = _bounded(schema)
            step = 1 if b.get("type") == "integer" else 0.01
            if "minimum" in b:
                cases.append((path, field, b["minimum"] - step))
            if "maximum" in b:
                cases.append((path, field, b["maximum"] + step))
            if "multipleOf" in b:
                cases.append((path, field, b["minimum"] + b["multipleOf"] // 2))
            if "$ref" in json.dumps(schema) and "OutputFormat" in json.dumps(schema):
                cases.append((path, field, "gif"))
            if schema.get("type") in ("integer", "number"):
                cases.append((path, field, "not-a-number"))
            if schema.get("type") == "boolean":
                cases.append((path, field, "maybe"))
    return cases


@pytest.mark.parametrize(("path", "field", "value"), bound_cases())
def test_out_of_contract_value_is_422(shared_client: TestClient, shared_tenant: Tenant, path: str,
                                      field: str, value: Any) -> None:
    body = valid_body(ENDPOINTS[path], shared_tenant.finetune_id) | {field: value}
    r = shared_client.post(path, headers=shared_tenant.headers, json=body)
    assert r.status_code == 422, (field, value, r.text)
    errors = r.json()["detail"]
    assert any(e["loc"][:2] == ["body", field] for e in errors), errors
    for e in errors:
        assert {"type", "loc", "msg", "input"} <= set(e)


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_valid_minimal_body_is_accepted(shared_client: TestClient, shared_tenant: Tenant,
                                        path: str) -> None:
    r = shared_client.post(path, headers=shared_tenant.headers, json=valid_body(ENDPOINTS[path],
                                                                   shared_tenant.finetune_id))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("path", "field"), [
    (p, f) for p, n in ENDPOINTS.items() for f in SCHEMAS[n]["required"]
])
def test_missing_required_field_is_422(shared_client: TestClient, shared_tenant: Tenant, path: str,
                                       field: str) -> None:
    body = valid_body(ENDPOINTS[path], shared_tenant.finetune_id)
    del body[field]
    r = shared_client.post(path, headers=shared_tenant.headers, json=body)
    assert r.status_code == 422
    assert {"type": "missing", "loc": ["body", field], "msg": "Field required",
            "input": {k: v for k, v in body.items()}} in r.json()["detail"]


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_boundary_values_are_accepted(shared_client: TestClient, shared_tenant: Tenant,
                                      path: str) -> None:
    name = ENDPOINTS[path]
    for edge in ("minimum", "maximum"):
        body = valid_body(name, shared_tenant.finetune_id)
        for field, schema in SCHEMAS[name]["properties"].items():
            b = _bounded(schema)
            if edge in b:
                body[field] = b[edge] if b.get("type") == "number" else int(b[edge])
        r = shared_client.post(path, headers=shared_tenant.headers, json=body)
        assert r.status_code == 200, (edge, r.text)


def test_malformed_json_is_422(shared_client: TestClient, shared_tenant: Tenant) -> None:
    r = shared_client.post("/v1/flux-pro-finetuned", headers={**shared_tenant.headers,
                    "content-type": "application/json"}, content=b'{"finetune_id": ')
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_body_that_is_not_an_object_is_422(shared_client: TestClient,
                                           shared_tenant: Tenant) -> None:
    r = shared_client.post("/v1/flux-pro-finetuned", headers=shared_tenant.headers, json=[1, 2])
    assert r.status_code == 422


@pytest.mark.parametrize("ratio", ["16x9", "0:9", "22:9", "9:22", "abc", "", "1:1:1", "-1:2",
                                   "99999999:1", "16:9.5"])
def test_bad_aspect_ratio_is_422(shared_client: TestClient, shared_tenant: Tenant,
                                 ratio: str) -> None:
    r = shared_client.post("/v1/flux-pro-1.1-ultra-finetuned", headers=shared_tenant.headers,
                    json={"finetune_id": shared_tenant.finetune_id, "aspect_ratio": ratio})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "aspect_ratio"]


@pytest.mark.parametrize("ratio", ["21:9", "9:21", "1:1", "16:9", " 4 : 3 "])
def test_good_aspect_ratio_is_accepted(shared_client: TestClient, shared_tenant: Tenant,
                                       ratio: str) -> None:
    r = shared_client.post("/v1/flux-pro-1.1-ultra-finetuned", headers=shared_tenant.headers,
                    json={"finetune_id": shared_tenant.finetune_id, "aspect_ratio": ratio})
    assert r.status_code == 200


@pytest.mark.parametrize("value", ["%%%not base64", base64.b64encode(b"not an image").decode(),
                                   "aGVsbG8"])
def test_bad_base64_image_is_422(shared_client: TestClient, shared_tenant: Tenant,
                                 value: str) -> None:
    r = shared_client.post("/v1/flux-pro-1.0-canny-finetuned", headers=shared_tenant.headers,
                    json={"finetune_id": shared_tenant.finetune_id, "prompt": "p",
                          "control_image": value})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "control_image"]


def test_mask_size_must_match_image(shared_client: TestClient, shared_tenant: Tenant) -> None:
    r = shared_client.post("/v1/flux-pro-1.0-fill-finetuned", headers=shared_tenant.headers,
                    json={"finetune_id": shared_tenant.finetune_id, "image": png_b64((64, 64)),
                          "mask": png_b64((32, 32))})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "mask"]
    assert "32x32" in r.json()["detail"][0]["msg"]


def test_image_over_pixel_bound_is_422(make_settings: Any, services: Any, tenant: Tenant) -> None:
    with TestClient(create_app(make_settings(max_image_pixels=1000), services)) as c:
        r = c.post("/v1/flux-pro-1.0-canny-finetuned", headers=tenant.headers,
                   json={"finetune_id": tenant.finetune_id, "prompt": "p",
                         "control_image": png_b64((64, 64))})
        assert r.status_code == 422
        assert "4096 pixels" in r.json()["detail"][0]["msg"]


def test_prompt_over_length_bound_is_422(make_settings: Any, services: Any,
                                         tenant: Tenant) -> None:
    with TestClient(create_app(make_settings(max_prompt_chars=20), services)) as c:
        r = c.post("/v1/flux-pro-finetuned", headers=tenant.headers,
                   json={"finetune_id": tenant.finetune_id, "prompt": "x" * 21})
        assert r.status_code == 422
        err = r.json()["detail"][0]
        assert err["type"] == "string_too_long" and err["loc"] == ["body", "prompt"]
        assert err["ctx"] == {"max_length": 20}


def test_body_over_size_bound_is_413(make_settings: Any, services: Any, tenant: Tenant) -> None:
    with TestClient(create_app(make_settings(max_body_bytes=2048), services)) as c:
        r = c.post("/v1/flux-pro-finetuned", headers=tenant.headers,
                   json={"finetune_id": tenant.finetune_id, "prompt": "x" * 5000})
        assert r.status_code == 413
        assert r.json() == {"detail": "Request body too large: the limit is 2048 bytes"}

        def chunks() -> Any:  # no Content-Length: the bound holds while streaming
            yield b'{"finetune_id": "' + tenant.finetune_id.encode() + b'", "prompt": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}'

        r = c.post("/v1/flux-pro-finetuned", headers={**tenant.headers,
                   "content-type": "application/json"}, content=chunks())
        assert r.status_code == 413


@pytest.mark.parametrize("url", ["http://127.0.0.1/hook", "http://10.0.0.1/x",
                                 "http://169.254.169.254/latest", "http://localhost:8080/",
                                 "ftp://example.com/x", "not a url"])
def test_private_webhook_targets_are_refused(make_settings: Any, services: Any, tenant: Tenant,
                                             url: str) -> None:
    with TestClient(create_app(make_settings(webhook_allow_private=False), services)) as c:
        r = c.post("/v1/flux-pro-finetuned", headers=tenant.headers,
                   json={"finetune_id": tenant.finetune_id, "webhook_url": url})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "webhook_url"]


def test_no_validation_error_creates_a_task(client: TestClient, tenant: Tenant,
                                            services: Any) -> None:
    from fluxhost.store.tasks import count_by_state

    client.post("/v1/flux-pro-finetuned", headers=tenant.headers,
                json={"finetune_id": tenant.finetune_id, "width": 7})
    assert count_by_state(services.store) == {}


def test_fill_without_mask_needs_alpha(shared_client: TestClient, shared_tenant: Tenant) -> None:
    r = shared_client.post("/v1/flux-pro-1.0-fill-finetuned", headers=shared_tenant.headers,
                    json={"finetune_id": shared_tenant.finetune_id, "image": png_b64((64, 64))})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "mask"]
    assert "alpha channel" in r.json()["detail"][0]["msg"]
    ok = shared_client.post("/v1/flux-pro-1.0-fill-finetuned", headers=shared_tenant.headers,
                     json={"finetune_id": shared_tenant.finetune_id, "image": png_b64((64, 64)),
                           "mask": png_b64((64, 64))})
    assert ok.status_code == 200


@pytest.mark.parametrize(("low", "high", "status"), [(300, 100, 422), (100, 100, 200),
                                                      (None, 40, 422), (250, None, 422),
                                                      (None, None, 200), (10, 20, 200)])
def test_canny_low_must_not_exceed_high(shared_client: TestClient, shared_tenant: Tenant,
                                        low: int | None,
                                        high: int | None, status: int) -> None:
    r = shared_client.post("/v1/flux-pro-1.0-canny-finetuned", headers=shared_tenant.headers,
                    json={"finetune_id": shared_tenant.finetune_id, "prompt": "p",
                          "control_image": png_b64(), "canny_low_threshold": low,
                          "canny_high_threshold": high})
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["detail"][0]["loc"] == ["body", "canny_low_threshold"]
