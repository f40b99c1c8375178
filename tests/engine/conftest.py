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

from fluxhost.engine import Engine, LoraSpec, TextToImage  # noqa: E402
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
    from fluxhost.engine.devmodels import make_dev_lora

    return make_dev_lora(dev_set["base"], tmp_path_factory.mktemp("loras") / "a.safetensors")


@pytest.fixture(scope="session")
def lora_file_b(dev_set: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fluxhost.engine.devmodels import make_dev_lora

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
        image = (eng or engine).text_to_image(make_request(seed, lora))
        return np.asarray(image).astype(np.int16)

    return run


@pytest.fixture(scope="session")
def base_pixels(generate: Generate) -> np.ndarray:
    return generate(seed=0)
