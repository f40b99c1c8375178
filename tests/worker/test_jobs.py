"""Planning a task for the engine: sizes, defaults, ultra's aspect ratios."""

from __future__ import annotations

import pytest

from fluxhost.planning import plan, ultra_size
from fluxhost.settings import Settings


@pytest.mark.parametrize(
    ("ratio", "mp"), [("16:9", 4.0), ("21:9", 4.0), ("9:21", 4.0), ("1:1", 4.0), ("4:3", 0.0625)]
)
def test_ultra_size_is_near_target_and_multiple_of_32(ratio: str, mp: float) -> None:
    w, h = ultra_size(ratio, mp)
    rw, rh = (int(x) for x in ratio.split(":"))
    assert w % 32 == 0 and h % 32 == 0
    assert w * h / 1e6 == pytest.approx(mp, rel=0.1)
    assert (w / h) == pytest.approx(rw / rh, rel=0.1)


def test_ultra_default_is_about_4_megapixels_on_real_models() -> None:
    s = Settings(_env_file=None, models={"base": "black-forest-labs/FLUX.1-dev"})  # type: ignore[call-arg]
    assert s.resolved_ultra_megapixels == 4.0
    p = plan(
        "flux-pro-1.1-ultra-finetuned",
        {"aspect_ratio": "16:9", "seed": 1, "finetune_id": "f", "finetune_strength": 1.2},
        s,
    )
    assert (p.width, p.height) == (2656, 1504)
    assert (p.steps, p.guidance) == (s.ultra_steps, s.ultra_guidance)


def test_image_prompt_needs_redux() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    params = {
        "seed": 1,
        "finetune_id": "f",
        "finetune_strength": 1.0,
        "steps": 4,
        "width": 256,
        "height": 256,
        "guidance": 2.5,
        "_input_blobs": {"image_prompt": "inputs/x-image_prompt.bin"},
    }
    assert plan("flux-pro-finetuned", params, s).kinds == ("base", "redux")
    assert plan("flux-pro-1.0-fill-finetuned", {**params, "_input_blobs": {}}, s).kinds == ("fill",)
