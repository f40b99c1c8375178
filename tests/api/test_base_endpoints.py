"""The ten non-finetuned generation endpoints (contract/base-api.openapi.json), API side only
(no workers: tasks stay queued): the spec's example bodies, every bound of every field, auth,
the checks beyond the schema, and the task each submission stores."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fluxhost import catalog
from fluxhost.catalog import ENDPOINT_KINDS
from fluxhost.store.tasks import INPUTS_PARAM, get_task
from tests.api.test_validation import _bounded, png_b64
from tests.api.test_validation import bound_cases as finetune_bound_cases
from tests.conftest import CONTRACT_DIR, Tenant

SPEC = json.loads((CONTRACT_DIR / "base-api.openapi.json").read_text())
SCHEMAS = SPEC["components"]["schemas"]
ENDPOINTS = {
    path: op["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    .rsplit("/", 1)[-1]
    for path, op in SPEC["paths"].items()
}
# Image fields a request needs beyond its schema's `required` (one of the two, for canny and
# depth); a transparent PNG carries fill's mask.
IMAGES: dict[str, dict[str, Callable[[], str]]] = {
    "FluxProFillInputs": {"image": lambda: png_b64(mode="RGBA")},
    "FluxProExpandInputs": {"image": png_b64},
    "CannyInputs": {"control_image": png_b64},
    "DepthInputs": {"control_image": png_b64},
}


def example_body(schema_name: str) -> dict[str, Any]:
    """The spec's example body: every property's `example`, plus the required fields (and the
    images a request needs) where the spec shows none."""
    body: dict[str, Any] = {}
    for field, schema in SCHEMAS[schema_name]["properties"].items():
        if "example" in schema:
            body[field] = schema["example"]
    for field, make in IMAGES.get(schema_name, {}).items():
        body[field] = make()
    for field in SCHEMAS[schema_name].get("required", []):
        body.setdefault(field, "p")
    return body


def minimal_body(schema_name: str) -> dict[str, Any]:
    body = {field: make() for field, make in IMAGES.get(schema_name, {}).items()}
    for field in SCHEMAS[schema_name].get("required", []):
        body.setdefault(field, "p")
    return body


def bound_cases() -> list[tuple[str, str, Any]]:
    """Every bound and type of every field of the ten endpoints, as for the finetune family."""
    return finetune_bound_cases(ENDPOINTS, SCHEMAS)


def post(client: TestClient, tenant: Tenant, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, headers=tenant.headers, json=body)


def test_all_ten_endpoints_are_covered() -> None:
    assert len(ENDPOINTS) == 10
    assert {p.removeprefix("/v1/") for p in ENDPOINTS} <= set(ENDPOINT_KINDS)


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_spec_example_body_is_accepted(client: TestClient, tenant: Tenant, services: Any,
                                       path: str) -> None:
    r = post(client, tenant, path, example_body(ENDPOINTS[path]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["polling_url"] == f"http://testserver/v1/get_result?id={body['id']}"
    task = get_task(services.store, body["id"])
    assert task is not None
    assert task.endpoint == path.removeprefix("/v1/")
    assert task.kind == ENDPOINT_KINDS[task.endpoint]
    assert task.finetune_id is None
    poll = client.get("/v1/get_result", params={"id": body["id"]})
    assert poll.json()["status"] == "Pending"


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_minimal_body_is_accepted(shared_client: TestClient, shared_tenant: Tenant,
                                  path: str) -> None:
    r = post(shared_client, shared_tenant, path, minimal_body(ENDPOINTS[path]))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("path", "field", "value"), bound_cases())
def test_out_of_contract_value_is_422(shared_client: TestClient, shared_tenant: Tenant, path: str,
                                      field: str, value: Any) -> None:
    r = post(shared_client, shared_tenant, path, minimal_body(ENDPOINTS[path]) | {field: value})
    assert r.status_code == 422, (field, value, r.text)
    errors = r.json()["detail"]
    assert any(e["loc"][:2] == ["body", field] for e in errors), errors
    for e in errors:
        assert {"type", "loc", "msg", "input"} <= set(e)


@pytest.mark.parametrize(("path", "field"), [
    (p, f) for p, n in ENDPOINTS.items() for f in SCHEMAS[n].get("required", [])
])
def test_missing_required_field_is_422(shared_client: TestClient, shared_tenant: Tenant, path: str,
                                       field: str) -> None:
    body = minimal_body(ENDPOINTS[path])
    del body[field]
    r = post(shared_client, shared_tenant, path, body)
    assert r.status_code == 422
    assert {"type": "missing", "loc": ["body", field], "msg": "Field required",
            "input": body} in r.json()["detail"]


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_boundary_values_are_accepted(shared_client: TestClient, shared_tenant: Tenant,
                                      path: str) -> None:
    name = ENDPOINTS[path]
    for edge in ("minimum", "maximum"):
        body = minimal_body(name)
        for field, schema in SCHEMAS[name]["properties"].items():
            b = _bounded(schema)
            if edge in b:
                body[field] = b[edge] if b.get("type") == "number" else int(b[edge])
        if name == "FluxProExpandInputs" and edge == "maximum":
            # 2048 on every side is past MAX_IMAGE_PIXELS (4112² > 4096²): two at a time.
            for pair in (("top", "bottom"), ("left", "right")):
                one = {k: v for k, v in body.items() if k not in pair}
                r = post(shared_client, shared_tenant, path, one)
                assert r.status_code == 200, (edge, pair, r.text)
            continue
        r = post(shared_client, shared_tenant, path, body)
        assert r.status_code == 200, (edge, r.text)


@pytest.mark.parametrize("path", list(ENDPOINTS))
@pytest.mark.parametrize("key", [None, "fh_wrong"])
def test_missing_or_bad_key_is_403(shared_client: TestClient, path: str, key: str | None) -> None:
    headers = {} if key is None else {"x-key": key}
    r = shared_client.post(path, headers=headers, json={"prompt": 1})  # auth before the body
    assert r.status_code == 403
    assert r.json() == {"detail": "Not authenticated - Invalid Authentication"}


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_nul_in_prompt_is_422(shared_client: TestClient, shared_tenant: Tenant, path: str) -> None:
    r = post(shared_client, shared_tenant, path,
             minimal_body(ENDPOINTS[path]) | {"prompt": "a\x00b"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "prompt"]


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_seed_outside_64_bits_is_422(shared_client: TestClient, shared_tenant: Tenant,
                                     path: str) -> None:
    r = post(shared_client, shared_tenant, path, minimal_body(ENDPOINTS[path]) | {"seed": 2**64})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "less_than_equal"


def test_webp_and_nulls_are_accepted_and_stored_as_defaults(
    client: TestClient, tenant: Tenant, services: Any
) -> None:
    r = post(client, tenant, "/v1/flux-dev",
             {"prompt": "x", "output_format": "webp", "steps": None, "guidance": None})
    assert r.status_code == 200, r.text
    task = get_task(services.store, r.json()["id"])
    assert task is not None
    p = task.params
    assert (p["output_format"], p["steps"], p["guidance"]) == ("webp", 28, 3.0)
    assert isinstance(p["seed"], int)
    r = post(client, tenant, "/v1/flux-pro-finetuned",
             {"finetune_id": tenant.finetune_id, "output_format": "webp"})
    assert r.status_code == 200, r.text  # one OutputFormat for both families


def test_defaults_are_stored(client: TestClient, tenant: Tenant, services: Any) -> None:
    def params(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = post(client, tenant, path, body)
        assert r.status_code == 200, r.text
        task = get_task(services.store, r.json()["id"])
        assert task is not None
        return dict(task.params)

    p = params("/v1/flux-pro", {})
    assert (p["steps"], p["guidance"], p["interval"], p["width"], p["height"]) == \
        (40, 2.5, 2, 1024, 768)
    p = params("/v1/flux-pro-1.1-ultra", {})
    assert (p["aspect_ratio"], p["raw"], p["image_prompt_strength"]) == ("16:9", False, 0.1)
    p = params("/v1/flux-kontext-max", {"prompt": "x"})
    assert (p["output_format"], p["aspect_ratio"]) == ("png", None)
    p = params("/v1/flux-pro-1.0-expand", {"image": png_b64(), "top": 32, "left": None})
    assert (p["top"], p["left"], p["steps"], p["guidance"]) == (32, 0, 50, 60)
    assert p["image"] is None and set(p[INPUTS_PARAM]) == {"image"}  # the image is a blob
    p = params("/v1/flux-pro-1.0-canny", {"prompt": "x", "preprocessed_image": png_b64()})
    assert (p["canny_low_threshold"], p["canny_high_threshold"], p["guidance"]) == (50, 200, 30)
    assert set(p[INPUTS_PARAM]) == {"preprocessed_image"}


@pytest.mark.parametrize("path", ["/v1/flux-pro-1.0-canny", "/v1/flux-pro-1.0-depth"])
def test_control_needs_an_image(shared_client: TestClient, shared_tenant: Tenant,
                                path: str) -> None:
    r = post(shared_client, shared_tenant, path, {"prompt": "x"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "control_image"]


def test_canny_thresholds_must_be_ordered(shared_client: TestClient,
                                          shared_tenant: Tenant) -> None:
    r = post(shared_client, shared_tenant, "/v1/flux-pro-1.0-canny",
             minimal_body("CannyInputs") | {"canny_low_threshold": 300,
                                            "canny_high_threshold": 100})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "canny_low_threshold"]


def test_fill_without_mask_needs_alpha(shared_client: TestClient, shared_tenant: Tenant) -> None:
    r = post(shared_client, shared_tenant, "/v1/flux-pro-1.0-fill", {"image": png_b64()})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "mask"]
    r = post(shared_client, shared_tenant, "/v1/flux-pro-1.0-fill",
             {"image": png_b64((64, 64)), "mask": png_b64((32, 32))})
    assert r.status_code == 422


def test_expand_beyond_the_pixel_bound_is_422(shared_client: TestClient,
                                              shared_tenant: Tenant) -> None:
    r = post(shared_client, shared_tenant, "/v1/flux-pro-1.0-expand",
             {"image": png_b64((1024, 1024)), "top": 2048, "bottom": 2048, "left": 2048,
              "right": 2048})
    assert r.status_code == 422
    assert "expanded image" in r.json()["detail"][0]["msg"]


# The URL is private: refused by the guard without a connection (tests/api/test_image_urls.py).
@pytest.mark.parametrize("value", ["https://127.0.0.1:9/a.png", "%%%", "aGVsbG8="])
def test_kontext_image_must_be_base64_of_an_image(shared_client: TestClient, shared_tenant: Tenant,
                                                  value: str) -> None:
    r = post(shared_client, shared_tenant, "/v1/flux-kontext-pro", {"prompt": "x",
             "input_image_3": value})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "input_image_3"]


@pytest.mark.parametrize("ratio", ["22:9", "9:22", "0:1", "wide"])
def test_bad_aspect_ratio_is_422(shared_client: TestClient, shared_tenant: Tenant,
                                 ratio: str) -> None:
    for path, body in (("/v1/flux-pro-1.1-ultra", {}), ("/v1/flux-kontext-pro", {"prompt": "x"})):
        r = post(shared_client, shared_tenant, path, body | {"aspect_ratio": ratio})
        assert r.status_code == 422, (path, ratio)
        assert r.json()["detail"][0]["loc"] == ["body", "aspect_ratio"]


def test_webhook_variant(shared_client: TestClient, shared_tenant: Tenant) -> None:
    r = post(shared_client, shared_tenant, "/v1/flux-pro-1.1",
             {"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": "s"})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "Pending" and body["webhook_url"] == "http://127.0.0.1:9/hook"
    assert body["polling_url"].endswith(body["id"])


def test_fast_path_serves_every_route() -> None:
    from fluxhost.api.routers.generate import FAST_HANDLERS

    assert set(ENDPOINTS) <= set(FAST_HANDLERS)


def test_endpoint_kinds_setting_changes_the_stored_kind(
    make_settings: Any, services: Any, tenant: Tenant
) -> None:
    from fluxhost.api.app import create_app

    settings = make_settings(endpoint_kinds={"flux-dev": "kontext",
                                             "flux-pro-finetuned": "kontext"})
    with TestClient(create_app(settings, services)) as client:
        dev = post(client, tenant, "/v1/flux-dev", {"prompt": "x"}).json()["id"]
        pro = post(client, tenant, "/v1/flux-pro-1.1", {}).json()["id"]
        ft = post(client, tenant, "/v1/flux-pro-finetuned",
                  {"finetune_id": tenant.finetune_id}).json()["id"]
    kinds = {task_id: getattr(get_task(services.store, task_id), "kind", None)
             for task_id in (dev, pro, ft)}
    assert kinds == {dev: "kontext", pro: "base", ft: "kontext"}


@pytest.mark.parametrize(("bad", "message"), [
    ({"flux-nope": "base"}, "unknown endpoints"), ({"flux-dev": "training"}, "unknown kind"),
    ({"flux-dev": "pro11"}, "unknown kind"),
    # a text endpoint cannot run on a control pipeline (it has no control image to give)
    ({"flux-pro-finetuned": "depth"}, "cannot run on kind 'depth'"),
])
def test_endpoint_kinds_setting_is_checked(make_settings: Any, bad: dict[str, str],
                                           message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        make_settings(endpoint_kinds=bad)


def test_ready_lists_the_served_endpoints(make_settings: Any, services: Any) -> None:
    from fluxhost.api.app import create_app
    from fluxhost.engine.devmodels import DEV_KINDS

    with TestClient(create_app(make_settings(), services)) as client:
        body = client.get("/ready").json()
    assert body["endpoints"] == [f"/v1/{e}" for e, kind in ENDPOINT_KINDS.items()
                                 if kind in DEV_KINDS]

    # Only base and fill configured (nothing is loaded on an API-only node), and flux-dev
    # moved to kontext: the canny, depth and kontext endpoints, flux-dev and FLUX.2's are not
    # served.
    settings = make_settings(models={"base": "/nowhere/base", "fill": "/nowhere/fill"},
                             endpoint_kinds={"flux-dev": "kontext"})
    with TestClient(create_app(settings, services)) as client:
        r = client.get("/ready")
    body = r.json()
    assert r.status_code == 200
    assert body["endpoints_unserved"] == {
        "/v1/flux-pro-1.0-canny-finetuned": "canny",
        "/v1/flux-pro-1.0-depth-finetuned": "depth",
        "/v1/flux-dev": "kontext",
        "/v1/flux-pro-1.0-canny": "canny",
        "/v1/flux-pro-1.0-depth": "depth",
        "/v1/flux-kontext-pro": "kontext",
        "/v1/flux-kontext-max": "kontext",
        **{e.path: e.kind for e in catalog.ENDPOINTS if e.sizing == "flux2"},
    }
    assert "/v1/flux-pro-1.0-expand" in body["endpoints"]
    assert "/v1/flux-dev" not in body["endpoints"]


def test_webp_is_encoded_and_delivered_as_webp() -> None:
    """The worker's encoder writes WebP and the delivery route serves it as image/webp."""
    from PIL import Image

    from fluxhost.engine.encode import CONTENT_TYPES, encode_image
    from fluxhost.storage.blobs import content_type_for

    for mode in ("RGB", "RGBA", "L"):
        data = encode_image(Image.new(mode, (16, 16)), "webp")
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert CONTENT_TYPES["webp"] == content_type_for("results/x.webp") == "image/webp"
