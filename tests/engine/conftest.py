"""Engine test fixtures: one dev model set and one loaded Engine for the whole session.

Helpers are fixtures (not importable functions) so that nothing depends on how pytest names
conftest modules next to the other test packages.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# Run from a plain checkout too (before `pip install -e .`).
_SRC = Path(__file__).resolve().parents[2] / "src"
if _SRC.is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

from PIL import Image  # noqa: E402

from fluxhost.engine import Control, Engine, Fill, LoraSpec, TextToImage  # noqa: E402
from fluxhost.settings import Settings  # noqa: E402

SIZE = 256
STEPS = 4

MakeSettings = Callable[..., Settings]
MakeRequest = Callable[..., TextToImage]
Generate = Callable[..., np.ndarray]


@pytest.fixture(scope="session")
def make_engine_settings() -> MakeSettings:
    def make(data_dir: Path, **overrides: object) -> Settings:
        # Explicit models={} and no .env: the suite must not pick up a developer's configuration.
        values: dict[str, Any] = {"data_dir": data_dir, "models": {}, **overrides}
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture(scope="session")
def engine_settings(
    make_engine_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return make_engine_settings(tmp_path_factory.mktemp("engine-data"))


@pytest.fixture(scope="session")
def dev_set(engine_settings: Settings) -> dict[str, Path]:
    from fluxhost.engine.devmodels import ensure_dev_model_set
    from fluxhost.engine.modelset import dev_model_root

    return ensure_dev_model_set(dev_model_root(engine_settings))


@pytest.fixture(scope="session")
def engine(engine_settings: Settings, dev_set: dict[str, Path]) -> Engine:
    return Engine(engine_settings)


@pytest.fixture(scope="session")
def lora_file(dev_set: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fluxhost.engine.families.flux1.dev import make_dev_lora

    return make_dev_lora(dev_set["base"], tmp_path_factory.mktemp("loras") / "a.safetensors")


@pytest.fixture(scope="session")
def lora_file_b(dev_set: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fluxhost.engine.families.flux1.dev import make_dev_lora

    out = tmp_path_factory.mktemp("loras-b") / "b.safetensors"
    return make_dev_lora(dev_set["base"], out, seed=1)


@pytest.fixture(scope="session")
def make_request() -> MakeRequest:
    def make(seed: int = 0, lora: LoraSpec | None = None, prompt: str = "a cat") -> TextToImage:
        return TextToImage(
            prompt=prompt, width=SIZE, height=SIZE, steps=STEPS, guidance=3.5, seed=seed, lora=lora
        )

    return make


@pytest.fixture(scope="session")
def generate(engine: Engine, make_request: MakeRequest) -> Generate:
    """Pixels as int16, so that differences of uint8 values don't wrap."""

    def run(seed: int = 0, lora: LoraSpec | None = None, eng: Engine | None = None) -> np.ndarray:
        image = (eng or engine).run(make_request(seed, lora))
        return np.asarray(image).astype(np.int16)

    return run


@pytest.fixture(scope="session")
def base_pixels(generate: Generate) -> np.ndarray:
    return generate(seed=0)


@pytest.fixture(scope="session")
def pattern_image() -> Image.Image:
    """A SIZE x SIZE RGB image with smooth gradients and sharp edges: canny finds more edges in
    it the lower the thresholds, and every pixel value is there to check a fill against."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    # Strong edges (a 32 px checkerboard in green, the channel grayscale weighs most) and weak
    # ones (an 8 px checkerboard in red) over smooth waves.
    strong = np.where((xx // 32 + yy // 32) % 2 == 0, 30.0, 225.0)
    weak = np.where((xx // 8 + yy // 8) % 2 == 0, -30.0, 30.0)
    red = np.sin(xx / 9) * 60 + 128 + weak
    blue = np.cos(yy / 13) * 127 + 128
    return Image.fromarray(np.stack([red, strong, blue], axis=-1).astype(np.uint8))


@pytest.fixture(scope="session")
def fill_mask() -> Image.Image:
    """White (repaint) in the centre square, black (keep) around it."""
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[64:192, 64:192] = 255
    return Image.fromarray(mask)


@pytest.fixture(scope="session")
def make_fill(pattern_image: Image.Image, fill_mask: Image.Image) -> Callable[..., Fill]:
    def make(seed: int = 0, **kw: Any) -> Fill:
        values: dict[str, Any] = {
            "prompt": "a cat",
            "image": pattern_image,
            "mask": fill_mask,
            "width": SIZE,
            "height": SIZE,
            "steps": STEPS,
            "guidance": 30.0,
            "seed": seed,
            **kw,
        }
        return Fill(**values)

    return make


@pytest.fixture(scope="session")
def make_control(pattern_image: Image.Image) -> Callable[..., Control]:
    def make(kind: str = "canny", seed: int = 0, **kw: Any) -> Control:
        values: dict[str, Any] = {
            "kind": kind,
            "prompt": "a cat",
            "control_image": pattern_image,
            "width": SIZE,
            "height": SIZE,
            "steps": STEPS,
            "guidance": 10.0,
            "seed": seed,
            **kw,
        }
        return Control(**values)

    return make
