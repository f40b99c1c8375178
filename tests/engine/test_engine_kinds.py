"""Fill, control (canny/depth), Redux image prompts, and components shared between kinds."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fluxhost.engine import (
    Control,
    Engine,
    Fill,
    ImagePrompt,
    Interrupted,
    MissingPipeline,
    TextToImage,
)
from fluxhost.engine.families.flux1.common import SHARED_COMPONENTS
from fluxhost.engine.families.flux1.control import control_image
from fluxhost.engine.families.flux1.redux import image_prompt_embeds
from fluxhost.engine.preprocess import canny_edges, depth_map
from fluxhost.settings import Settings

SIZE = 256
STEPS = 4


def _px(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _t2i(engine: Engine, image_prompt: ImagePrompt | None = None, prompt: str = "a cat") -> Any:
    req = TextToImage(
        prompt=prompt,
        width=SIZE,
        height=SIZE,
        steps=STEPS,
        guidance=3.5,
        seed=0,
        image_prompt=image_prompt,
    )
    return _px(engine.run(req))


# --- fill ---------------------------------------------------------------------------------------


def test_fill_keeps_unmasked_pixels_exactly(
    engine: Engine, make_fill: Callable[..., Fill], pattern_image: Image.Image
) -> None:
    req = make_fill()
    out = engine.run(req)
    assert out.size == (SIZE, SIZE) and out.mode == "RGB"
    got, src, mask = _px(out), _px(pattern_image), np.asarray(req.mask)
    assert np.array_equal(got[mask == 0], src[mask == 0])
    # ...and the masked square was repainted.
    assert _diff(got[mask == 255], src[mask == 255]) > 10


def test_fill_resizes_to_the_requested_size(
    engine: Engine, make_fill: Callable[..., Fill], pattern_image: Image.Image
) -> None:
    out = engine.run(make_fill(width=128, height=192, steps=2))
    assert out.size == (128, 192)
    # The kept border is the input resized the way the engine documents.
    src = _px(pattern_image.resize((128, 192), Image.Resampling.LANCZOS))
    mask = np.asarray(make_fill().mask.resize((128, 192), Image.Resampling.NEAREST))
    assert np.array_equal(_px(out)[mask == 0], src[mask == 0])


def test_fill_is_deterministic_by_seed(engine: Engine, make_fill: Callable[..., Fill]) -> None:
    first = _px(engine.run(make_fill(seed=3)))
    assert np.array_equal(_px(engine.run(make_fill(seed=3))), first)
    assert _diff(_px(engine.run(make_fill(seed=4))), first) > 2


# --- control ------------------------------------------------------------------------------------


def test_canny_edges(pattern_image: Image.Image) -> None:
    edges = canny_edges(pattern_image, 50, 200)
    assert edges.mode == "RGB" and edges.size == pattern_image.size
    values = np.asarray(edges)
    assert set(np.unique(values)) == {0, 255}
    assert np.array_equal(values[..., 0], values[..., 2])
    assert not np.asarray(canny_edges(Image.new("RGB", (64, 64), (90, 90, 90)), 10, 20)).any()
    with pytest.raises(ValueError):
        canny_edges(pattern_image, -1, 20)


@pytest.mark.parametrize("kind", ["canny", "depth"])
def test_control_size_and_determinism(
    engine: Engine, make_control: Callable[..., Control], kind: str
) -> None:
    first = engine.run(make_control(kind, seed=5))
    assert first.size == (SIZE, SIZE) and first.mode == "RGB"
    assert np.array_equal(_px(engine.run(make_control(kind, seed=5))), _px(first))
    assert _diff(_px(engine.run(make_control(kind, seed=6))), _px(first)) > 2
    other = engine.run(make_control(kind, width=128, height=192, steps=2))
    assert other.size == (128, 192)


def test_canny_thresholds_change_control_image_and_output(
    engine: Engine, make_control: Callable[..., Control]
) -> None:
    low = make_control(canny_low=10, canny_high=40)
    high = make_control(canny_low=150, canny_high=400)
    edges_low = np.asarray(control_image(engine, low))
    edges_high = np.asarray(control_image(engine, high))
    assert (edges_low > 0).mean() > (edges_high > 0).mean() + 0.05 > 0.05
    assert _diff(_px(engine.run(low)), _px(engine.run(high))) > 0.5


def test_depth_goes_through_the_estimator(
    engine: Engine, make_control: Callable[..., Control], pattern_image: Image.Image
) -> None:
    req = make_control("depth", width=128, height=192)
    depth = control_image(engine, req)
    assert depth.mode == "RGB" and depth.size == (128, 192)
    values = np.asarray(depth)
    assert np.array_equal(values[..., 0], values[..., 1])
    assert values.min() == 0 and values.max() == 255  # normalised
    assert engine.depth_estimator() is engine.depth_estimator()  # loaded once
    # The map depends on the image.
    flipped = make_control("depth", width=128, height=192, control_image=pattern_image.rotate(90))
    assert _diff(_px(control_image(engine, flipped)), _px(depth)) > 5


def test_flat_depth_is_black() -> None:
    class Flat:
        def predict(self, image: Image.Image) -> np.ndarray:
            return np.full((image.height, image.width), 3.0, dtype=np.float32)

    out = depth_map(Image.new("RGB", (32, 16)), Flat())  # type: ignore[arg-type]
    assert out.size == (32, 16) and not np.asarray(out).any()


@pytest.mark.parametrize("kind", ["fill", "canny"])
def test_progress_and_interrupt(
    engine: Engine,
    make_fill: Callable[..., Fill],
    make_control: Callable[..., Control],
    kind: str,
) -> None:
    def run(**kw: Any) -> Image.Image:
        if kind == "fill":
            return engine.run(make_fill(), **kw)
        return engine.run(make_control(kind), **kw)

    calls: list[tuple[int, int]] = []
    run(on_step=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(Interrupted) as info:
        run(should_stop=lambda: True)
    assert info.value.step == 0


def test_request_validation(
    engine: Engine, make_fill: Callable[..., Fill], make_control: Callable[..., Control]
) -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        engine.run(make_fill(width=100))
    with pytest.raises(ValueError, match="steps"):
        engine.run(make_control(steps=0))
    # A kind of another pipeline is refused; a kind nobody configured is missing.
    with pytest.raises(ValueError, match="runs a fill pipeline; this request needs one of: "
                                         "canny, depth"):
        engine.run(make_control("fill"))
    with pytest.raises(MissingPipeline, match="'pose'"):
        engine.run(make_control("pose"))


# --- Redux image prompts ------------------------------------------------------------------------


def test_image_prompt_strength_zero_is_text_only(
    engine: Engine, pattern_image: Image.Image, base_pixels: np.ndarray
) -> None:
    assert np.array_equal(_t2i(engine, ImagePrompt(pattern_image, 0.0)), base_pixels)


def test_image_prompt_strength_one_is_image_only(
    engine: Engine, pattern_image: Image.Image, base_pixels: np.ndarray
) -> None:
    one = _t2i(engine, ImagePrompt(pattern_image, 1.0))
    assert _diff(one, base_pixels) > 1
    # The text is gone entirely at 1: another prompt draws the same image.
    assert np.array_equal(_t2i(engine, ImagePrompt(pattern_image, 1.0), prompt="a dog"), one)
    half = _t2i(engine, ImagePrompt(pattern_image, 0.5))
    assert _diff(half, one) > 0.2 and _diff(half, base_pixels) > 0.2


def test_image_prompt_blend(engine: Engine, pattern_image: Image.Image) -> None:
    import torch

    base, redux = engine.load("base"), engine.load("redux")
    # Under no_grad like the pipelines: T5 with autograd on differs in the last bits.
    with torch.no_grad():
        text, pooled, _ = base.encode_prompt(prompt="a cat", prompt_2=None, max_sequence_length=128)
    tokens = text.shape[1]
    one = image_prompt_embeds(base, redux, "a cat", ImagePrompt(pattern_image, 1.0), 128)
    half = image_prompt_embeds(base, redux, "a cat", ImagePrompt(pattern_image, 0.5), 128)
    assert one["prompt_embeds"].shape == (1, tokens + 16, text.shape[2])  # 16 SigLIP patches
    assert not one["prompt_embeds"][:, :tokens].any() and not one["pooled_prompt_embeds"].any()
    assert one["prompt_embeds"][:, tokens:].abs().sum() > 0
    assert torch.allclose(half["prompt_embeds"][:, :tokens], text * 0.5)
    assert torch.allclose(half["prompt_embeds"][:, tokens:], one["prompt_embeds"][:, tokens:] * 0.5)
    assert torch.allclose(half["pooled_prompt_embeds"], pooled * 0.5)


@pytest.mark.parametrize("strength", [-0.1, 1.5, math.nan])
def test_image_prompt_strength_is_checked(
    engine: Engine, pattern_image: Image.Image, strength: float
) -> None:
    with pytest.raises(ValueError, match="strength"):
        _t2i(engine, ImagePrompt(pattern_image, strength))


# --- configuration ------------------------------------------------------------------------------


def test_missing_kinds(
    make_engine_settings: Callable[..., Settings],
    dev_set: dict[str, Path],
    tmp_path: Path,
    pattern_image: Image.Image,
    make_fill: Callable[..., Fill],
    make_control: Callable[..., Control],
) -> None:
    engine = Engine(make_engine_settings(tmp_path, models={"base": str(dev_set["base"])}))
    for strength in (0.0, 1.0):  # served or not, whatever the strength
        with pytest.raises(MissingPipeline, match="'redux'"):
            _t2i(engine, ImagePrompt(pattern_image, strength))
    with pytest.raises(MissingPipeline, match="'fill'"):
        engine.run(make_fill())
    for kind in ("canny", "depth"):
        with pytest.raises(MissingPipeline, match=f"'{kind}'"):
            engine.run(make_control(kind))
    with pytest.raises(MissingPipeline):
        engine.depth_estimator()
    assert engine.loaded_kinds() == frozenset()


def test_kinds_share_components(engine_settings: Settings, dev_set: dict[str, Path]) -> None:
    engine = Engine(engine_settings)  # a fresh one: nothing loaded yet
    assert engine.shared_components() == {}
    base = engine.load("base")
    shared = engine.shared_components()
    assert set(shared) == set(SHARED_COMPONENTS)
    for kind in ("fill", "canny", "depth"):
        pipe = engine.load(kind)
        for name in SHARED_COMPONENTS:
            assert getattr(pipe, name) is getattr(base, name) is shared[name], (kind, name)
        # Each kind has its own transformer and (stateful) scheduler.
        assert pipe.transformer is not base.transformer
        assert pipe.scheduler is not base.scheduler
    redux = engine.load("redux")
    for name in ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2"):
        assert getattr(redux, name) is getattr(base, name)


def test_shared_whichever_kind_loads_first(
    engine_settings: Settings, dev_set: dict[str, Path]
) -> None:
    engine = Engine(engine_settings)
    fill = engine.load("fill")
    assert engine.load("base").vae is fill.vae
    assert engine.load("base").text_encoder_2 is fill.text_encoder_2

    # Redux brings no text encoders: loading it first loads base to get them.
    engine = Engine(engine_settings)
    redux = engine.load("redux")
    assert engine.loaded_kinds() == frozenset({"base", "redux"})
    assert redux.text_encoder is engine.load("base").text_encoder
