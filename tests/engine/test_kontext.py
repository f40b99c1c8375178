"""FLUX.1 Kontext on the dev model set: text to image, one and four references (stitched side
by side), determinism, and the stitching itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from fluxhost.engine import Engine, Kontext
from fluxhost.engine.families.flux1.references import reference_size, stitch_references

STEPS = 3


def _image(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _kontext(images: tuple[Image.Image, ...] = (), **kw: Any) -> Kontext:
    values: dict[str, Any] = {"prompt": "make it blue", "images": images, "width": 256,
                              "height": 192, "steps": STEPS, "guidance": 2.5, "seed": 7, **kw}
    return Kontext(**values)


def test_kontext_is_a_dev_kind_sharing_the_encoders(engine: Engine) -> None:
    assert "kontext" in engine.available_kinds()
    base, kontext = engine.load("base"), engine.load("kontext")
    assert type(kontext).__name__ == "FluxKontextPipeline"
    assert kontext.text_encoder_2 is base.text_encoder_2 and kontext.vae is base.vae
    assert kontext.transformer.config.in_channels == 64


@pytest.mark.parametrize("count", [0, 1, 4])
def test_kontext_with_0_1_4_references(engine: Engine, count: int) -> None:
    images = tuple(_image(200, 150, seed) for seed in range(count))
    out = engine.run(_kontext(images))
    assert out.size == (256, 192) and out.mode == "RGB"
    again = engine.run(_kontext(images))
    assert np.array_equal(np.asarray(out), np.asarray(again))  # deterministic per seed


def test_references_condition_the_output(engine: Engine) -> None:
    none = np.asarray(engine.run(_kontext()))
    one = np.asarray(engine.run(_kontext((_image(200, 150, 0),))))
    other = np.asarray(engine.run(_kontext((_image(200, 150, 1),))))
    four = np.asarray(engine.run(_kontext(tuple(_image(200, 150, s) for s in range(4)))))
    assert not np.array_equal(none, one)
    assert not np.array_equal(one, other)
    assert not np.array_equal(one, four)


def test_more_than_four_references_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="at most 4"):
        engine.run(_kontext(tuple(_image(32, 32, s) for s in range(5))))


def test_stitch_places_references_side_by_side_in_order() -> None:
    red = Image.new("RGB", (100, 100), (255, 0, 0))
    green = Image.new("RGB", (50, 100), (0, 255, 0))
    blue = Image.new("RGB", (100, 200), (0, 0, 255))  # scaled to height 100: 50 wide
    strip = stitch_references([red, green, blue], area=200 * 100)
    assert strip.size == reference_size(200, 100, 200 * 100) == (208, 96)
    px = np.asarray(strip.resize((200, 100), Image.Resampling.NEAREST))
    assert tuple(px[50, 20]) == (255, 0, 0)
    assert tuple(px[50, 125]) == (0, 255, 0)
    assert tuple(px[50, 180]) == (0, 0, 255)


def test_one_reference_is_only_scaled_to_the_output_area() -> None:
    image = _image(400, 300, 0)
    ref = stitch_references([image], area=256 * 192)
    assert ref.size == (256, 192)
    assert stitch_references([image.resize((256, 192))], area=256 * 192).size == (256, 192)
