"""Operator-defined kinds: FLUXHOST_MODELS names a kind of its own with the pipeline it runs and
its checkpoint; the engine loads that checkpoint with the pipeline's stock diffusers class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fluxhost.engine import Control, Engine, TextToImage
from fluxhost.engine.families.flux1.control import control_image
from fluxhost.settings import Settings
from fluxhost.worker.kinds import served_kinds

SIZE, STEPS = 256, 4


@pytest.fixture(scope="module")
def engine(make_engine_settings: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory,
           dev_model_dir: Path, other_base_checkpoint: Path) -> Engine:
    models: dict[str, Any] = {
        "base": str(dev_model_dir / "base"),
        "canny": str(dev_model_dir / "canny"),
        # another checkpoint on the base pipeline, e.g. to serve flux-pro-1.1
        "pro11": {"pipeline": "base", "source": str(other_base_checkpoint)},
        # the same weights as base under another name: must draw exactly what base draws
        "same": {"pipeline": "base", "source": str(dev_model_dir / "base")},
        "edges": {"pipeline": "canny", "source": str(dev_model_dir / "canny")},
    }
    return Engine(make_engine_settings(tmp_path_factory.mktemp("custom"), models=models))


def _t2i(engine: Engine, kind: str) -> np.ndarray:
    req = TextToImage(prompt="a red fox", width=SIZE, height=SIZE, steps=STEPS, guidance=3.5,
                      seed=7, kind=kind)
    return np.asarray(engine.run(req)).astype(np.int16)


def test_custom_kinds_are_available_and_claimed(engine: Engine) -> None:
    kinds = engine.available_kinds()
    assert {"base", "canny", "pro11", "same", "edges"} == kinds
    assert served_kinds(None, kinds) == {"base", "canny", "pro11", "same", "edges", "training"}
    assert served_kinds("pro11", kinds) == {"pro11"}
    assert engine.pipeline_of("pro11") == "base" and engine.pipeline_of("edges") == "canny"


def test_a_custom_kind_runs_its_own_checkpoint(engine: Engine) -> None:
    base = _t2i(engine, "base")
    # Same pipeline class, same request: only the checkpoint differs, and so do the pixels.
    assert np.abs(_t2i(engine, "pro11") - base).mean() > 5
    assert np.array_equal(_t2i(engine, "same"), base)


def test_custom_kinds_share_the_loaded_encoders_and_vae(engine: Engine) -> None:
    base, pro11 = engine.load("base"), engine.load("pro11")
    assert pro11.text_encoder_2 is base.text_encoder_2 and pro11.vae is base.vae
    assert pro11.transformer is not base.transformer
    assert type(pro11).__name__ == "FluxPipeline"


def test_a_custom_control_kind_preprocesses_like_its_pipeline(
    engine: Engine, pattern_image: Any
) -> None:
    def control(kind: str) -> np.ndarray:
        req = Control(kind=kind, prompt="a cat", control_image=pattern_image, width=SIZE,
                      height=SIZE, steps=STEPS, guidance=10.0, seed=0)
        assert np.array_equal(np.asarray(control_image(engine, req)),
                              np.asarray(control_image(engine, 
                                  Control(**{**req.__dict__, "kind": "canny"}))))
        return np.asarray(engine.run(req))

    # Canny edges made the same way, the same weights: the same image.
    assert np.array_equal(control("edges"), control("canny"))


def test_a_request_on_a_kind_of_another_pipeline_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="kind 'edges' runs a canny pipeline"):
        _t2i(engine, "edges")
