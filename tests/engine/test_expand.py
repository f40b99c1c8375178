"""flux-pro-1.0-expand on the dev fill pipeline: padded canvas, generated border, and every
original pixel kept exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from fluxhost.engine import Engine, Expand
from fluxhost.engine.expand import expand_canvas, keep_original


def _image(w: int, h: int) -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _expand(image: Image.Image, **kw: Any) -> Expand:
    values: dict[str, Any] = {"prompt": "more sky", "image": image, "top": 0, "bottom": 0,
                              "left": 0, "right": 0, "width": 256, "height": 256, "steps": 3,
                              "guidance": 60.0, "seed": 1, **kw}
    return Expand(**values)


def test_canvas_and_mask() -> None:
    image = _image(10, 6)
    canvas, mask = expand_canvas(image, 1, 2, 3, 4)
    assert canvas.size == mask.size == (17, 9)
    m = np.asarray(mask)
    assert (m[1:7, 3:13] == 0).all() and m.sum() == 255 * (17 * 9 - 60)
    assert np.array_equal(np.asarray(canvas)[1:7, 3:13], np.asarray(image))
    with pytest.raises(ValueError, match="top"):
        expand_canvas(image, 2049, 0, 0, 0)


@pytest.mark.parametrize(
    ("size", "pad", "gen"),
    [((120, 90), (10, 20, 30, 5), (256, 256)),  # generated larger than the canvas
     ((200, 150), (0, 0, 0, 100), (336, 256)),  # one side only, another aspect
     ((300, 300), (64, 64, 64, 64), (256, 256))],  # generated smaller than the canvas
)
def test_expand_keeps_every_original_pixel(
    engine: Engine, size: tuple[int, int], pad: tuple[int, int, int, int], gen: tuple[int, int]
) -> None:
    image = _image(*size)
    top, bottom, left, right = pad
    out = engine.run(_expand(image, top=top, bottom=bottom, left=left, right=right,
                                width=gen[0], height=gen[1]))
    assert out.size == (left + size[0] + right, top + size[1] + bottom)
    px = np.asarray(out)
    assert np.array_equal(px[top:top + size[1], left:left + size[0]], np.asarray(image))
    # The border was generated: not the black the canvas was padded with.
    border = np.ones(px.shape[:2], dtype=bool)
    border[top:top + size[1], left:left + size[0]] = False
    assert px[border].std() > 1


def test_no_padding_returns_the_image_without_generating(engine: Engine) -> None:
    image = _image(64, 48)
    out = engine.run(_expand(image))
    assert np.array_equal(np.asarray(out), np.asarray(image))


def test_keep_original_scales_then_pastes() -> None:
    generated = Image.new("RGB", (32, 32), (9, 9, 9))
    image = _image(5, 4)
    out = keep_original(generated, image, (12, 10), left=3, top=2)
    assert out.size == (12, 10)
    px = np.asarray(out)
    assert np.array_equal(px[2:6, 3:8], np.asarray(image))
    assert tuple(px[0, 0]) == (9, 9, 9)
