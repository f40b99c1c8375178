"""canny/depth with `preprocessed_image`: the control image is used as given. Proof: with edge
detection and the depth estimator made to fail, a run on the map the engine would have made
gives bit for bit the output of the normal run on the source image."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np
import pytest

from fluxhost.engine import Control, Engine
from fluxhost.engine.families.flux1.control import control_image


def _boom(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise AssertionError("preprocessing ran on a preprocessed control image")


@pytest.mark.parametrize("kind", ["canny", "depth"])
def test_preprocessed_image_skips_preprocessing(
    engine: Engine, make_control: Callable[..., Control], monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    normal = make_control(kind, seed=3)
    control_map = control_image(engine, normal)  # edges or depth of the source image
    expected = np.asarray(engine.run(normal))

    monkeypatch.setattr(Engine, "depth_estimator", _boom)
    monkeypatch.setattr("fluxhost.engine.preprocess.canny_edges", _boom)
    monkeypatch.setattr("fluxhost.engine.preprocess.depth_map", _boom)
    with pytest.raises(AssertionError):  # the spies are live
        engine.run(normal)

    pre = make_control(kind, seed=3, control_image=control_map, preprocessed=True)
    assert np.array_equal(np.asarray(engine.run(pre)), expected)
    assert control_image(engine, pre) is not None
