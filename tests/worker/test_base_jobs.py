"""Planning the non-finetuned endpoints (issue 10): kinds, sizes, the contract's defaults when a
field is null, expand's padding, preprocessed control images, Kontext's size and references."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from fluxhost.catalog import ENDPOINT_KINDS
from fluxhost.engine.types import Control, Expand, Kontext, TextToImage
from fluxhost.planning import plan
from fluxhost.settings import Settings
from fluxhost.worker.inputs import InputError
from fluxhost.worker.requests import engine_request

KINDS = {
    "flux-pro-1.1": "base", "flux-pro": "base", "flux-dev": "base",
    "flux-pro-1.1-ultra": "base", "flux-pro-1.0-fill": "fill", "flux-pro-1.0-expand": "fill",
    "flux-pro-1.0-canny": "canny", "flux-pro-1.0-depth": "depth",
    "flux-kontext-pro": "kontext", "flux-kontext-max": "kontext",
}


@pytest.fixture
def dev() -> Settings:
    return Settings(_env_file=None, models={})  # type: ignore[call-arg]


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_every_new_endpoint_maps_to_its_kind() -> None:
    for endpoint, kind in KINDS.items():
        assert ENDPOINT_KINDS[endpoint] == kind


@pytest.mark.parametrize(("endpoint", "steps", "guidance"), [
    ("flux-pro", 40, 2.5), ("flux-dev", 28, 3.0), ("flux-pro-1.0-fill", 50, 60.0),
    ("flux-pro-1.0-expand", 50, 60.0), ("flux-pro-1.0-canny", 50, 30.0),
    ("flux-pro-1.0-depth", 50, 15.0),
])
def test_null_steps_and_guidance_are_the_contract_defaults(
    dev: Settings, endpoint: str, steps: int, guidance: float
) -> None:
    params = {"seed": 1, "steps": None, "guidance": None, "width": 256, "height": 256}
    p = plan(endpoint, params, dev)
    assert (p.steps, p.guidance) == (steps, guidance)
    assert p.finetune_id is None
    given = plan(endpoint, {**params, "steps": 17, "guidance": 4.5}, dev)
    assert (given.steps, given.guidance) == (17, 4.5)  # nothing overrides the request's


def test_text_to_image_endpoints(dev: Settings) -> None:
    p = plan("flux-pro-1.1", {"seed": 3, "width": 512, "height": 256, "prompt": None}, dev)
    assert (p.kinds, p.width, p.height, p.prompt, p.output_format) == (
        ("base",), 512, 256, "", "jpeg")
    with_prompt = plan("flux-pro", {"seed": 3, "width": 256, "height": 256, "interval": 4,
                                    "_input_blobs": {"image_prompt": "k"}}, dev)
    assert with_prompt.kinds == ("base", "redux") and with_prompt.image_prompt_strength == 1.0
    req = engine_request(p, {}, None)
    assert isinstance(req, TextToImage) and req.lora is None


def test_ultra_raw_lowers_guidance(dev: Settings) -> None:
    params: dict[str, Any] = {"seed": 1, "aspect_ratio": "1:1", "image_prompt_strength": 0.3}
    p = plan("flux-pro-1.1-ultra", params, dev)
    raw = plan("flux-pro-1.1-ultra", {**params, "raw": True}, dev)
    assert (p.width, p.height) == (256, 256) and p.image_prompt_strength == 0.3
    assert p.guidance == dev.ultra_guidance and raw.guidance == 2.0


def test_expand_request(dev: Settings) -> None:
    p = plan("flux-pro-1.0-expand", {"seed": 1, "top": 10, "bottom": None, "left": 0,
                                     "right": 30, "_input_blobs": {"image": "k"}}, dev)
    assert p.padding == (10, 0, 0, 30)
    req = engine_request(p, {"image": _png(300, 200)}, None)
    assert isinstance(req, Expand)
    assert (req.top, req.bottom, req.left, req.right) == (10, 0, 0, 30)
    assert (req.width, req.height) == (400, 256)  # the 330x210 canvas fitted to 256..1440, x16
    fill = plan("flux-pro-1.0-fill", {"seed": 1, "_input_blobs": {"image": "k", "mask": "m"}},
                dev)
    assert fill.padding is None
    # fill is the finetuned fill without a LoRA: same mask rules (a black mask marks nothing)
    with pytest.raises(InputError, match="blank"):
        engine_request(fill, {"image": _png(64, 64), "mask": _png(64, 64)}, None)


@pytest.mark.parametrize("endpoint", ["flux-pro-1.0-canny", "flux-pro-1.0-depth"])
def test_preprocessed_image_wins(dev: Settings, endpoint: str) -> None:
    blobs = {"control_image": "c", "preprocessed_image": "p"}
    p = plan(endpoint, {"seed": 1, "_input_blobs": blobs}, dev)
    assert p.preprocessed
    req = engine_request(p, {"control_image": _png(512, 512), "preprocessed_image": _png(320, 256)},
                         None)
    assert isinstance(req, Control) and req.preprocessed
    assert (req.width, req.height) == (320, 256)
    plain = plan(endpoint, {"seed": 1, "_input_blobs": {"control_image": "c",
                                                         "preprocessed_image": None}}, dev)
    assert not plain.preprocessed
    none = plan(endpoint, {"seed": 1}, dev)
    with pytest.raises(InputError, match="neither"):
        engine_request(none, {}, None)


def test_kontext_sizes_and_references(dev: Settings) -> None:
    t2i = plan("flux-kontext-pro", {"seed": 1, "prompt": "a fox", "output_format": None}, dev)
    assert (t2i.kinds, t2i.width, t2i.height, t2i.output_format) == (("kontext",), 256, 256,
                                                                      "png")
    req = engine_request(t2i, {}, None)
    assert isinstance(req, Kontext) and req.images == ()

    ratio = plan("flux-kontext-max", {"seed": 1, "aspect_ratio": "16:9"}, dev)
    assert (ratio.width, ratio.height) == (336, 192)
    assert (ratio.steps, ratio.guidance) == (dev.kontext_steps, dev.kontext_guidance)

    blobs = {f: f for f in ("input_image", "input_image_2", "input_image_3", "input_image_4")}
    from_image = plan("flux-kontext-pro", {"seed": 1, "_input_blobs": blobs}, dev)
    assert from_image.width == 0
    req = engine_request(from_image, {"input_image": _png(400, 200), "input_image_2": _png(9, 9),
                                      "input_image_3": _png(9, 9), "input_image_4": _png(9, 9)},
                         None)
    assert isinstance(req, Kontext) and len(req.images) == 4
    assert (req.width, req.height) == (352, 176)  # 2:1 at 0.0625 MP, multiples of 16
    real = Settings(_env_file=None, models={"kontext": "black-forest-labs/FLUX.1-Kontext-dev"})  # type: ignore[call-arg]
    big = plan("flux-kontext-pro", {"seed": 1, "aspect_ratio": "1:1"}, real)
    assert (big.width, big.height) == (1024, 1024)


def test_the_stored_kind_decides_the_engine_request(dev: Settings) -> None:
    # FLUXHOST_ENDPOINT_KINDS may map an endpoint to another kind; the task carries it.
    dev_on_kontext = plan("flux-dev", {"seed": 1, "width": 320, "height": 256,
                                       "_input_blobs": {"image_prompt": "k"}}, dev,
                          kind="kontext")
    assert dev_on_kontext.kinds == ("kontext",)  # no Redux: it feeds only the base pipeline
    req = engine_request(dev_on_kontext, {"image_prompt": _png(64, 64)}, None)
    assert isinstance(req, Kontext) and req.images == () and (req.width, req.height) == (320, 256)

    kontext_on_base = plan("flux-kontext-pro", {"seed": 1, "_input_blobs": {"input_image": "k"}},
                           dev, kind="base")
    req = engine_request(kontext_on_base, {"input_image": _png(400, 200)}, None)
    assert isinstance(req, TextToImage) and (req.width, req.height) == (352, 176)
