"""`references=[...]` on the SDK (issue 18): spread into input_image, input_image_2, ... in
order, each entry bytes, a Path, a PIL image or base64, checked against the endpoint's request
model before anything is sent, on `Client` and `AsyncClient`, through the typed methods,
`generate` and `submit`."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from fluxhost import catalog
from fluxhost.client import InvalidRequest, method_name
from fluxhost.wire.flux2 import (
    IMAGE_FIELDS,
    KLEIN_IMAGE_FIELDS,
    Flux2BaseInputs,
    Flux2FlexInputs,
)
from tests.client.harness import Harness, script

QUEUED = {"id": "t1", "polling_url": "http://api.test/v1/get_result?id=t1"}
READY = {"id": "t1", "status": "Ready", "result": {"sample": "http://api.test/s"}}
FLUX2 = [e for e in catalog.ENDPOINTS if issubclass(e.model, Flux2BaseInputs) and not e.finetuned]


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def queued() -> httpx.Response:
    return httpx.Response(200, json=QUEUED)


def body_of(h: Harness, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(h.requests[index].content)
    return body


def decoded(value: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(value)))
    img.load()
    return img


def noise(seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_the_catalog_names_each_endpoints_references() -> None:
    refs = {e.name: e.reference_fields for e in catalog.ENDPOINTS if e.reference_fields}
    assert refs == {**{e.name: KLEIN_IMAGE_FIELDS if "klein" in e.name else IMAGE_FIELDS
                       for e in catalog.ENDPOINTS if e.sizing == "flux2"},
                    "flux-kontext-pro": KLEIN_IMAGE_FIELDS, "flux-kontext-max": KLEIN_IMAGE_FIELDS}
    assert len(IMAGE_FIELDS) == 8 and len(KLEIN_IMAGE_FIELDS) == 4


@pytest.mark.parametrize("endpoint", FLUX2, ids=lambda e: e.name)
def test_references_fill_the_fields_in_order(flavour: str, endpoint: catalog.Endpoint,
                                             tmp_path: Path) -> None:
    """Every form an image takes, up to the endpoint's last field, lands in field order."""
    path = tmp_path / "first.png"
    noise(1).save(path)
    pil = noise(2)
    forms: list[Any] = [path, pil, (tmp_path / "first.png").read_bytes(),
                        base64.b64encode(b"as given").decode()]
    fields = endpoint.reference_fields
    images = (forms * 2)[:len(fields)]
    h = Harness(flavour, script(queued()))
    h.call(endpoint.method, prompt="p", references=images, seed=1)
    body = body_of(h)
    assert list(body) == ["prompt", *fields, "seed"]
    assert (h.paths, body["prompt"], body["seed"]) == ([f"POST {endpoint.path}"], "p", 1)
    assert base64.b64decode(body[fields[0]]) == path.read_bytes()
    sent_pil = decoded(body[fields[1]])  # a lossless PNG of the caller's pixels
    assert sent_pil.format == "PNG" and np.array_equal(np.asarray(sent_pil), np.asarray(pil))
    assert body[fields[2]] == body[fields[0]]
    assert body[fields[3]] == forms[3]


def test_a_none_reference_leaves_its_field_out(flavour: str) -> None:
    h = Harness(flavour, script(queued()))
    h.call("flux_2_klein_9b", prompt="p", references=[b"a", None, b"c"])
    assert body_of(h) == {"prompt": "p", "input_image": base64.b64encode(b"a").decode(),
                          "input_image_3": base64.b64encode(b"c").decode()}


def test_references_with_the_raw_fields_and_a_model_instance(flavour: str) -> None:
    h = Harness(flavour, script(queued(), queued()))
    h.call("flux_2_pro", prompt="p", references=[b"a"], input_image_3=b"c", width=256)
    assert body_of(h) == {"prompt": "p", "input_image_3": base64.b64encode(b"c").decode(),
                          "width": 256, "input_image": base64.b64encode(b"a").decode()}
    h.call("flux_2_flex", Flux2FlexInputs(prompt="q", steps=4), references=[b"a", b"b"])
    assert body_of(h, 1) == {"prompt": "q", "steps": 4,
                             "input_image": base64.b64encode(b"a").decode(),
                             "input_image_2": base64.b64encode(b"b").decode()}


@pytest.mark.parametrize(("method", "count"), [("flux_2_klein_4b", 5), ("flux_2_klein_9b", 5),
                                               ("flux_2_klein_9b_preview", 6),
                                               ("flux_2_pro", 9), ("flux_2_flex", 9),
                                               ("flux_kontext_pro", 5)])
def test_more_references_than_fields_are_refused_before_sending(flavour: str, method: str,
                                                                count: int) -> None:
    endpoint = next(e for e in catalog.ENDPOINTS if e.method == method)
    most = len(endpoint.reference_fields)
    h = Harness(flavour, script())
    with pytest.raises(InvalidRequest) as info:
        h.call(method, prompt="p", references=[b"x"] * count)
    assert str(info.value) == (
        f"invalid request for {endpoint.name}: references: {endpoint.name} takes at most "
        f"{most} reference images (input_image ... input_image_{most}), got {count}")
    assert info.value.detail[0]["loc"] == ["references"]
    with pytest.raises(InvalidRequest, match=f"at most {most} reference images"):
        h.call("generate", endpoint.name, prompt="p", references=[b"x"] * count)
    with pytest.raises(InvalidRequest, match=f"at most {most} reference images"):
        h.call("submit", endpoint.name, prompt="p", references=[b"x"] * count)
    assert h.requests == []


@pytest.mark.parametrize(("call", "needle"), [
    (("flux_dev",), "flux-dev takes no reference images"),
    (("generate", "flux-pro-1.0-fill"), "flux-pro-1.0-fill takes no reference images"),
    (("flux_2_pro",), "a list of images, not one image"),
])
def test_references_where_none_fit_are_refused(flavour: str, call: tuple[str, ...],
                                               needle: str) -> None:
    h = Harness(flavour, script())
    refs: Any = b"one image" if call == ("flux_2_pro",) else [b"x"]
    with pytest.raises(InvalidRequest, match=needle):
        h.call(*call, prompt="p", references=refs)
    assert h.requests == []


def test_a_field_given_both_ways_is_refused(flavour: str) -> None:
    h = Harness(flavour, script())
    with pytest.raises(InvalidRequest, match="input_image_2 given both as a field and in "
                       "references"):
        h.call("flux_2_max", prompt="p", references=[b"a", b"b"], input_image_2=b"c")
    with pytest.raises(InvalidRequest, match="input_image given both"):
        h.call("flux_2_flex", Flux2FlexInputs(prompt="p", input_image="YQ=="),
               references=[b"b"])
    assert h.requests == []


def test_the_model_checks_the_rest_of_the_body(flavour: str) -> None:
    """steps and guidance are flex's only: the klein model refuses them here (the server would
    ignore them); the spread references pass."""
    h = Harness(flavour, script())
    with pytest.raises(InvalidRequest) as info:
        h.call("flux_2_klein_4b", prompt="p", references=[b"a"], steps=4)
    assert str(info.value).endswith("steps: unknown field for Flux2KleinInputs")
    with pytest.raises(InvalidRequest, match="width: Input should be greater than or equal "
                       "to 64"):
        h.call("generate", "flux-2-pro", prompt="p", references=[b"a"], width=10)
    assert h.requests == []


def test_generate_with_references(flavour: str, tmp_path: Path) -> None:
    h = Harness(flavour, script(queued(), httpx.Response(200, json=READY)))
    noise(3).save(tmp_path / "r.png")
    result = h.call("generate", "flux-2-klein-4b", prompt="p",
                    references=[tmp_path / "r.png", noise(4)], timeout=5)
    assert result.is_ready and h.paths == ["POST /v1/flux-2-klein-4b", "GET /v1/get_result"]
    body = body_of(h)
    assert set(body) == {"prompt", "input_image", "input_image_2"}
    assert decoded(body["input_image_2"]).size == (64, 48)


def test_submit_spreads_references_and_sends_the_rest_as_given(flavour: str) -> None:
    """submit lets the server judge the fields (the JS SDK's extras go as they are), and an
    endpoint newer than the SDK gets the provider's names, however many."""
    h = Harness(flavour, script(queued(), queued()))
    url = "https://images.example/cat.png"  # the server fetches it: sent as it is
    h.call("submit", "flux-2-pro", prompt="p", references=[noise(5), url], steps=4, raw=True)
    assert set(body_of(h)) == {"prompt", "input_image", "input_image_2", "steps", "raw"}
    assert body_of(h)["input_image_2"] == url
    h.call("submit", "flux-3-pro", prompt="p", references=[b"x"] * 10)
    assert list(body_of(h, 1)) == ["prompt", "input_image",
                                   *(f"input_image_{n}" for n in range(2, 11))]


def test_pil_images_in_any_image_field_and_odd_modes(flavour: str) -> None:
    h = Harness(flavour, script(queued()))
    cmyk = Image.new("CMYK", (64, 64), (0, 255, 0, 0))  # no PNG of that mode: sent as RGB
    h.call("flux_pro_1_0_fill", prompt="p", image=cmyk, mask=Image.new("L", (64, 64), 255))
    body = body_of(h)
    assert decoded(body["image"]).mode == "RGB" and decoded(body["mask"]).mode == "L"


def test_typed_methods_say_what_references_fill() -> None:
    from fluxhost.client import Client

    assert "fills input_image ... input_image_4 in order (at most 4)" in \
        str(Client.flux_2_klein_4b.__doc__)
    assert "http(s) URL the server fetches" in str(Client.flux_2_klein_4b.__doc__)
    assert "input_image_8" in str(getattr(Client, method_name("flux-2-pro")).__doc__)
    assert "references" not in str(Client.flux_dev.__doc__)
