from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fluxhost.engine import Engine, Interrupted, MissingPipeline, TextToImage
from fluxhost.engine.devmodels import DEV_KINDS
from fluxhost.settings import Settings

Generate = Callable[..., np.ndarray]


def test_image_shape(engine: Engine, make_request: Callable[..., TextToImage]) -> None:
    image = engine.run(make_request())
    assert image.size == (256, 256) and image.mode == "RGB"


def test_same_seed_same_pixels(generate: Generate, base_pixels: np.ndarray) -> None:
    assert np.array_equal(generate(seed=0), base_pixels)


def test_different_seed_different_pixels(generate: Generate, base_pixels: np.ndarray) -> None:
    assert np.abs(generate(seed=1) - base_pixels).mean() > 5


def test_other_size(engine: Engine) -> None:
    req = TextToImage(prompt="x", width=128, height=192, steps=2, guidance=3.5, seed=0)
    assert engine.run(req).size == (128, 192)


@pytest.mark.parametrize(("width", "height"), [(250, 256), (256, 0), (8, 256)])
def test_rejects_sizes_the_pipeline_would_round(engine: Engine, width: int, height: int) -> None:
    req = TextToImage(prompt="x", width=width, height=height, steps=2, guidance=3.5, seed=0)
    with pytest.raises(ValueError, match="multiple of 16"):
        engine.run(req)


def test_progress_once_per_step(engine: Engine, make_request: Callable[..., TextToImage]) -> None:
    calls: list[tuple[int, int]] = []
    engine.run(make_request(), on_step=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_should_stop_interrupts(
    engine: Engine,
    make_request: Callable[..., TextToImage],
    generate: Generate,
    base_pixels: np.ndarray,
) -> None:
    calls: list[int] = []
    with pytest.raises(Interrupted) as info:
        engine.run(
            make_request(),
            on_step=lambda done, _total: calls.append(done),
            should_stop=lambda: len(calls) >= 2,
        )
    assert info.value.step == 2 and calls == [1, 2]

    # Stopping before the first step runs nothing.
    with pytest.raises(Interrupted):
        engine.run(
            make_request(), on_step=lambda *_: calls.append(-1), should_stop=lambda: True
        )
    assert calls == [1, 2]

    # An interrupted run leaves nothing behind that changes the next one.
    assert np.array_equal(generate(seed=0), base_pixels)


def test_available_kinds_and_missing_kind(
    engine: Engine,
    make_engine_settings: Callable[..., Settings],
    dev_set: dict[str, Path],
    tmp_path: Path,
) -> None:
    assert engine.available_kinds() == DEV_KINDS
    base_only = Engine(make_engine_settings(tmp_path, models={"base": str(dev_set["base"])}))
    assert base_only.available_kinds() == frozenset({"base"})
    with pytest.raises(MissingPipeline) as info:
        base_only.load("fill")
    assert info.value.kind == "fill"
    assert "'fill'" in str(info.value) and "FLUXHOST_MODELS" in str(info.value)


def test_missing_base_is_reported_without_loading(
    make_engine_settings: Callable[..., Settings],
    tmp_path: Path,
    make_request: Callable[..., TextToImage],
) -> None:
    engine = Engine(make_engine_settings(tmp_path, models={"fill": str(tmp_path / "nowhere")}))
    assert engine.available_kinds() == frozenset({"fill"})
    with pytest.raises(MissingPipeline, match="'base'"):
        engine.run(make_request())
    assert engine.loaded_kinds() == frozenset()


def test_constructing_and_listing_touch_nothing(
    make_engine_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    engine = Engine(make_engine_settings(tmp_path / "data"))
    assert engine.available_kinds() == DEV_KINDS
    assert engine.uses_dev_models and engine.warning
    assert not (tmp_path / "data").exists()


def test_concurrent_callers_are_serialised(generate: Generate, base_pixels: np.ndarray) -> None:
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(generate(seed=0))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(np.array_equal(r, base_pixels) for r in results)
