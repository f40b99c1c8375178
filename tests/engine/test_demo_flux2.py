"""fluxhost.engine.demo serving a FLUX.2 [klein] folder of a demo set (emoji2's export): the
manifest's prompt length, references letterboxed to the native size, no FLUX.1 true-CFG
arguments. The dev set's klein-4b pipeline stands in for the demo's weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fluxhost.engine.demo import MANIFEST, Manifest, ServedPipeline, read_manifest


class Flux2KleinSpy:
    """Records each call's arguments and runs the real pipeline with them (named like the
    pipeline class: the wrapper tells FLUX.2 pipelines by their class name)."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.pipe(**kwargs)


@pytest.fixture(scope="module")
def klein(dev_model_dir: Path) -> Any:
    import torch
    from diffusers import Flux2KleinPipeline

    pipe = Flux2KleinPipeline.from_pretrained(dev_model_dir / "klein-4b", dtype=torch.float32,
                                              local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_manifest_reads_the_flux2_prompt_length(tmp_path: Path) -> None:
    (tmp_path / "klein").mkdir()
    manifest = {"name": "emoji64", "native_size": 64, "flux2_max_sequence_length": 20}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert read_manifest(str(tmp_path / "klein")) == Manifest(
        "emoji64", "", native_size=64, flux2_max_sequence_length=20)
    (tmp_path / MANIFEST).write_text(json.dumps({**manifest, "flux2_max_sequence_length": 0}))
    with pytest.raises(ValueError, match="flux2_max_sequence_length must be a positive"):
        read_manifest(str(tmp_path / "klein"))


def test_klein_folder_runs_native_with_letterboxed_references(klein: Any) -> None:
    import torch

    spy = Flux2KleinSpy(klein)
    served = ServedPipeline(spy, Manifest("emoji64", "", native_size=64, true_cfg=True,
                                          flux2_max_sequence_length=20))
    reference = Image.new("RGB", (300, 200), (200, 30, 30))
    result = served(prompt="make it blue", image=[reference], width=256, height=128,
                    num_inference_steps=2, guidance_scale=3.0,
                    generator=torch.Generator().manual_seed(0))
    call = spy.calls[0]
    assert (call["width"], call["height"], call["max_sequence_length"]) == (64, 64, 20)
    assert call["guidance_scale"] == 3.0 and "true_cfg_scale" not in call
    sent = np.asarray(call["image"][0])
    assert sent.shape == (64, 64, 3)
    assert sent[0, 0].tolist() == [255, 255, 255] and sent[32, 32].tolist() == [200, 30, 30]
    assert result.images[0].size == (256, 128)


def test_manifest_class_overrides_and_cfg_cap_are_checked(tmp_path: Path) -> None:
    from fluxhost.engine.demo import content_box, pipeline_class

    (tmp_path / "base").mkdir()
    manifest = {"name": "emoji64", "native_size": 64, "max_true_cfg": 8,
                "pipeline_classes": {"fill": "FluxInpaintPipeline"}}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    source = str(tmp_path / "base")
    assert pipeline_class(source, "fill") == "FluxInpaintPipeline"
    assert pipeline_class(source, "base") is None
    assert read_manifest(source).max_true_cfg == 8.0  # type: ignore[union-attr]
    for bad, message in [({"max_true_cfg": 0.5}, "max_true_cfg must be"),
                         ({"pipeline_classes": {"fill": "not a class"}}, "pipeline_classes"),
                         ({"pipeline_classes": ["fill"]}, "pipeline_classes")]:
        (tmp_path / MANIFEST).write_text(json.dumps({**manifest, **bad}))
        with pytest.raises(ValueError, match=message):
            read_manifest(source)
    # Where a 3:2 image lies in its 64x64 padded square: centred, full width.
    assert content_box((384, 256), 64) == (0, 10, 64, 53)
