"""A FLUX.2 task from its stored params to the engine's `Flux2` request (planning, then
worker/requests.py), without running it: references in field order, the size rules (the first
reference's size for a side left 0, 4 MP cap, multiples of 16), steps and guidance by endpoint
and serving pipeline; and the submit answer's output size agrees with what the worker renders."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from fluxhost.api.pricing import image_sizes, output_size
from fluxhost.engine.types import Flux2
from fluxhost.planning import flux2_size, plan
from fluxhost.settings import Settings
from fluxhost.store.tasks import INPUTS_PARAM
from fluxhost.worker.requests import engine_request, input_images

MODELS = {"flux2-dev": "/m/dev", "klein-4b": "/m/k4", "klein-9b-kv": "/m/k9kv",
          "my-dev": {"pipeline": "flux2", "source": "/m/mine"},
          # a klein Base checkpoint: 50 steps and real guidance, not a distilled klein's 4
          "klein-base": {"pipeline": "klein", "source": "/m/kb", "steps": 50, "guidance": 4.0},
          "fast-dev": {"pipeline": "flux2", "source": "/m/dev", "steps": 28}}


def raw_png(size: tuple[int, int], colour: tuple[int, ...] = (9, 99, 199),
            mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return buf.getvalue()


def request(endpoint: str, params: dict[str, Any], images: dict[str, bytes],
            settings: Settings, kind: str | None = None) -> Flux2:
    stored = {"prompt": "p", "seed": 7, **params,
              INPUTS_PARAM: {name: f"inputs/x-{name}.bin" for name in images}}
    req = engine_request(plan(endpoint, stored, settings, kind), images, None)
    assert isinstance(req, Flux2)
    assert output_size(endpoint, stored, image_sizes(images), settings) == (req.width, req.height)
    return req


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, models=MODELS,  # type: ignore[call-arg]
                    endpoint_kinds={"flux-2-klein-9b": "my-dev"})


def test_references_in_field_order_rgb(settings: Settings) -> None:
    images = {"input_image_3": raw_png((64, 64), (1, 2, 3)),
              "input_image": raw_png((96, 64), (7, 8, 9, 128), "RGBA"),
              "input_image_2": raw_png((64, 96), (4, 5, 6))}
    req = request("flux-2-pro", {"width": 0, "height": 0}, images, settings)
    assert [r.size for r in req.references] == [(96, 64), (64, 96), (64, 64)]
    assert {r.mode for r in req.references} == {"RGB"}
    assert (req.width, req.height, req.kind, req.seed, req.lora) == (96, 64, "flux2-dev", 7, None)
    assert list(input_images(req)) == ["input_image", "input_image_2", "input_image_3"]


@pytest.mark.parametrize(("endpoint", "params", "images", "size"), [
    ("flux-2-pro", {}, {}, (1024, 1024)),
    ("flux-2-pro", {"width": None, "height": None}, {"input_image": raw_png((800, 600))},
     (800, 608)),
    ("flux-2-max", {"width": 1600, "height": 0}, {"input_image": raw_png((800, 600))},
     (1600, 1200)),
    ("flux-2-flex", {"width": 0, "height": 300}, {"input_image_2": raw_png((800, 600))},
     (400, 304)),
    ("flux-2-klein-4b", {"width": 5000, "height": 5000}, {"input_image": raw_png((64, 64))},
     (2048, 2048)),
    ("flux-2-klein-9b-preview", {"width": 0, "height": 0},
     {"input_image": raw_png((3000, 2000))}, (2496, 1664)),
    ("flux-2-pro-preview", {"width": 65, "height": 200}, {}, (64, 208)),
])
def test_sizes_agree_with_the_submit_answer(settings: Settings, endpoint: str,
                                            params: dict[str, Any], images: dict[str, bytes],
                                            size: tuple[int, int]) -> None:
    req = request(endpoint, params, images, settings)
    assert (req.width, req.height) == size


@pytest.mark.parametrize(("endpoint", "kind", "params", "steps_guidance"), [
    ("flux-2-pro", None, {}, (50, 4.0)),  # FLUX.2 [dev]'s reference settings
    ("flux-2-max", "klein-4b", {}, (4, 1.0)),  # moved to a distilled klein: its 4 steps
    ("flux-2-klein-4b", None, {}, (4, 1.0)),
    ("flux-2-klein-9b-preview", None, {}, (4, 1.0)),
    ("flux-2-klein-9b", None, {}, (50, 4.0)),  # on the operator's FLUX.2 [dev] checkpoint
    ("flux-2-klein-4b", "nowhere", {}, (4, 1.0)),  # a kind this process does not know
    ("flux-2-flex", None, {"steps": 12, "guidance": 7.5}, (12, 7.5)),
    ("flux-2-flex", "klein-4b", {"steps": None, "guidance": None}, (50, 5.0)),
    ("flux-2-klein-4b", "klein-base", {}, (50, 4.0)),  # the kind's own (FLUXHOST_MODELS)
    ("flux-2-pro", "fast-dev", {}, (28, 4.0)),
    ("flux-2-flex", "klein-base", {"steps": 8}, (8, 5.0)),  # flex's fields win
])
def test_steps_and_guidance(settings: Settings, endpoint: str, kind: str | None,
                            params: dict[str, Any], steps_guidance: tuple[int, float]) -> None:
    p = plan(endpoint, {"prompt": "p", "seed": 1, **params}, settings, kind)
    assert (p.steps, p.guidance) == steps_guidance
    assert p.kinds == (kind or settings.endpoint_kind(endpoint),)


def test_an_unknown_kind_ends_the_task_naming_it(settings: Settings) -> None:
    from fluxhost.worker.inputs import InputError

    p = plan("flux-2-pro", {"prompt": "p", "seed": 1}, settings, "nowhere")
    with pytest.raises(InputError, match="'nowhere'"):
        engine_request(p, {}, None)


@pytest.mark.parametrize(("args", "size"), [
    ((0, 0, None), (1024, 1024)),
    ((1000, 0, None), (1008, 1024)),  # the missing side is the model's 1024
    ((0, 0, (1, 1)), (64, 64)),  # at least 64
    ((4104, 1022, None), (4096, 1008)),  # the nearest multiples would pass 4 MP: the ones below
    ((10**30, 64, None), (65536, 64)),
    ((0, 0, (1, 16_777_216)), (64, 65536)),
    ((2048, 2048, None), (2048, 2048)),
    ((2049, 2049, None), (2048, 2048)),
])
def test_flux2_size(args: tuple[int, int, tuple[int, int] | None],
                    size: tuple[int, int]) -> None:
    w, h = flux2_size(*args)
    assert (w, h) == size and w * h <= 2048 * 2048 and w % 16 == h % 16 == 0


def test_kontext_moved_onto_a_flux2_kind_edits_with_its_references() -> None:
    # Kontext's request is also a FLUX.2 one: its input images become references, its size
    # rules stay Kontext's, and steps and guidance are the serving kind's.
    s = Settings(_env_file=None, models=MODELS,  # type: ignore[call-arg]
                 endpoint_kinds={"flux-kontext-pro": "klein-base", "flux-kontext-max": "klein-4b"},
                 kontext_megapixels=0.25)
    images = {"input_image": raw_png((400, 200)), "input_image_2": raw_png((64, 64), (1, 2, 3))}
    req = request("flux-kontext-pro", {}, images, s)
    assert (req.kind, req.steps, req.guidance) == ("klein-base", 50, 4.0)
    assert [r.size for r in req.references] == [(400, 200), (64, 64)]
    assert req.width / req.height == pytest.approx(2, rel=0.1)  # the first image's aspect
    assert req.width * req.height == pytest.approx(0.25e6, rel=0.15)
    text = request("flux-kontext-max", {"aspect_ratio": "16:9"}, {}, s)
    assert (text.references, text.kind, text.steps, text.guidance) == ((), "klein-4b", 4, 1.0)
    assert text.width > text.height
