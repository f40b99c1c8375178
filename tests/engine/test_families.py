"""The family registry: every request type has its family, every pipeline one load recipe, and
the registry, the kind vocabulary and the dev model set name the same pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from fluxhost.engine import Control, Engine, Expand, Fill, Flux2, Kontext, TextToImage
from fluxhost.engine.devmodels import DEV_KINDS
from fluxhost.engine.families import FAMILIES, TRAINING, family_for, pipeline_names, pipeline_spec
from fluxhost.kinds import BUILTIN_KINDS, BUILTIN_PIPELINES, FLUX2_PIPELINES
from fluxhost.settings import Settings

IMAGE = Image.new("RGB", (16, 16))
COMMON = {"prompt": "p", "width": 16, "height": 16, "steps": 1, "guidance": 1.0, "seed": 0}


def test_each_request_type_has_its_family() -> None:
    requests = [
        TextToImage(**COMMON),
        Fill(image=IMAGE, mask=IMAGE.convert("L"), **COMMON),
        Expand(image=IMAGE, top=0, bottom=0, left=0, right=0, **COMMON),
        Control(kind="canny", control_image=IMAGE, **COMMON),
        Kontext(images=(), **COMMON),
        Flux2(references=(), **COMMON),
    ]
    families = [family_for(r) for r in requests]
    assert [f.request_type for f in families] == [type(r) for r in requests]
    assert len({f.name for f in FAMILIES}) == len(FAMILIES) == len(requests)


def test_the_registry_the_vocabulary_and_the_dev_set_agree() -> None:
    # FLUX.1's kinds are their pipelines; FLUX.2's run one of three (klein-4b: klein).
    assert pipeline_names() == {*BUILTIN_PIPELINES, *FLUX2_PIPELINES}
    assert set(BUILTIN_KINDS) == DEV_KINDS
    assert pipeline_spec("redux").borrows_from == "base"
    assert pipeline_spec(TRAINING.pipeline).class_name == "FluxPipeline"
    with pytest.raises(ValueError, match="unknown pipeline"):
        pipeline_spec("nope")


def test_an_unknown_request_type_is_refused(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Upscale:
        prompt: str = "p"

    engine = Engine(Settings(_env_file=None, data_dir=tmp_path, models={}))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="no engine family serves Upscale requests"):
        engine.run(Upscale())  # type: ignore[arg-type]
