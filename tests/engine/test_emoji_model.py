"""The shipped emoji64 demo set (models/emoji64) through the normal engine path, offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fluxhost.engine import Engine, TextToImage
from fluxhost.engine.demo import MANIFEST, ServedPipeline
from fluxhost.settings import Settings
from fluxhost.shipped import DEMO_ROOT

STEPS = 12


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory,
                monkeypatch_module: pytest.MonkeyPatch) -> Engine:
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path_factory.mktemp("emoji-data"), models={},
        model_set="emoji",
    )
    return Engine(settings)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def request(prompt: str, size: int = 64, seed: int = 0, guidance: float = 4.0) -> TextToImage:
    return TextToImage(prompt=prompt, width=size, height=size, steps=STEPS, guidance=guidance,
                       seed=seed)


def test_the_shipped_set_is_small_float16_and_says_what_it_is() -> None:
    manifest = json.loads((DEMO_ROOT / MANIFEST).read_text())
    assert manifest["native_size"] == 64
    assert "not FLUX" in manifest["description"]
    weights = list(DEMO_ROOT.rglob("*.safetensors"))
    assert {w.parent.name for w in weights} >= {"transformer", "vae", "text_encoder_2"}
    total = sum(f.stat().st_size for f in DEMO_ROOT.rglob("*") if f.is_file())
    # Gen 1 (base, 22.7 MB with its evaluation thumbnails) and gen 2 (klein, ~22.5 MB with its
    # evaluation set).
    assert total < 48e6, f"shipped set is {total / 1e6:.1f} MB"
    header = json.loads(safetensors_header(DEMO_ROOT / "base/transformer"))
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes == {"F16"}


def safetensors_header(folder: Path) -> bytes:
    with open(next(folder.glob("*.safetensors")), "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        return f.read(length)


def test_settings_select_the_shipped_set() -> None:
    settings = Settings(_env_file=None, models={}, model_set="emoji")  # type: ignore[call-arg]
    assert settings.uses_demo_models and not settings.uses_dev_models
    assert settings.model_sources()["base"] == str(DEMO_ROOT / "base")
    default = Settings(_env_file=None, models={})  # type: ignore[call-arg]
    assert default.uses_dev_models and not default.uses_demo_models


def test_generates_an_emoji_on_white_at_64(demo_engine: Engine) -> None:
    image = demo_engine.run(request("red apple"))
    assert image.size == (64, 64)
    assert isinstance(demo_engine.load("base"), ServedPipeline)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    # Every training emoji sits on white: the corners are white, the middle is not.
    corners = np.concatenate([pixels[:6, :6], pixels[:6, -6:], pixels[-6:, :6], pixels[-6:, -6:]])
    assert corners.mean() > 200
    assert pixels[24:40, 24:40].mean() < corners.mean() - 40


def test_api_sizes_are_the_native_image_scaled_up(demo_engine: Engine) -> None:
    small = demo_engine.run(request("grinning face", 64, seed=3))
    large = demo_engine.run(request("grinning face", 256, seed=3))
    assert large.size == (256, 256)
    expected = small.resize((256, 256), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(large), np.asarray(expected))


def test_prompts_steer_the_image(demo_engine: Engine) -> None:
    a = np.asarray(demo_engine.run(request("red heart")), dtype=np.float32)
    b = np.asarray(demo_engine.run(request("blue heart")), dtype=np.float32)
    # Same seed, different words: different pictures.
    assert np.abs(a - b).mean() > 5


def test_other_aspect_ratios_are_letterboxed_on_white(demo_engine: Engine) -> None:
    square = demo_engine.run(request("rocket", 256, seed=5))
    wide = demo_engine.run(
        TextToImage(prompt="rocket", width=512, height=256, steps=STEPS, guidance=4.0, seed=5))
    assert wide.size == (512, 256)
    pixels = np.asarray(wide)
    assert np.array_equal(pixels[:, 128:384], np.asarray(square))
    assert (pixels[:, :128] == 255).all() and (pixels[:, 384:] == 255).all()
