"""FLUX.2 generation: text to image, or from up to ten reference images passed to the pipeline's
own multi-image input (each reference's latents become tokens of their own, placed apart by
their position ids: no stitching as FLUX.1 Kontext needs).

Guidance differs by pipeline: FLUX.2 [dev] embeds it (guidance-distilled), a [klein] Base
checkpoint (is_distilled false in its model_index.json) runs true classifier-free guidance at
that scale (two transformer passes per step above 1), a distilled [klein] checkpoint ignores it
(the engine passes 1, which also spares the pipeline's warning), and Flux2KleinKVPipeline takes
none at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fluxhost.engine.checks import check_request
from fluxhost.engine.families.flux2.common import (
    KLEIN,
    KLEIN_KV,
    MAX_REFERENCE_ASPECT,
    MAX_REFERENCES,
    MIN_REFERENCE_SIDE,
    PIPELINES,
)
from fluxhost.engine.families.protocol import PipelineSpec, Runner
from fluxhost.engine.generate import OMIT
from fluxhost.engine.types import Flux2, StepCallback, StopCheck

if TYPE_CHECKING:
    from PIL import Image

PIPELINE_NAMES = tuple(spec.name for spec in PIPELINES)


class Flux2Family:
    name = "flux2"
    request_type = Flux2
    pipelines = PIPELINES
    helpers: tuple[PipelineSpec, ...] = ()

    def run(self, engine: Runner, req: Flux2, on_step: StepCallback | None,
            should_stop: StopCheck | None) -> Image.Image:
        """Generate at width x height from the prompt and `req.references` (none: text to
        image)."""
        check_request(req)
        check_references(req.references)
        pipeline = engine.check_kind(req.kind, PIPELINE_NAMES)
        pipe = engine.load(req.kind)

        def inputs() -> dict[str, Any]:
            references = list(req.references) or None
            return {"prompt": req.prompt, "image": references, **guidance_inputs(pipe, pipeline)}

        return engine.generate(pipe, req, on_step, should_stop, inputs)


def check_references(references: Sequence[Image.Image]) -> None:
    """ValueError naming the reference the pipeline would refuse (or the count over the limit)."""
    if len(references) > MAX_REFERENCES:
        raise ValueError(
            f"FLUX.2 takes at most {MAX_REFERENCES} reference images, got {len(references)}")
    for number, image in enumerate(references, start=1):
        width, height = image.size
        if min(width, height) < MIN_REFERENCE_SIDE:
            raise ValueError(f"reference image {number} is {width}x{height}; FLUX.2 needs both "
                             f"sides at least {MIN_REFERENCE_SIDE} px")
        if max(width, height) > MAX_REFERENCE_ASPECT * min(width, height):
            raise ValueError(f"reference image {number} is {width}x{height}; FLUX.2 takes aspect "
                             f"ratios up to {MAX_REFERENCE_ASPECT}:1")


def guidance_inputs(pipe: Any, pipeline: str) -> dict[str, Any]:
    """The guidance argument where it is not the request's (see the module docstring)."""
    if pipeline == KLEIN_KV.name:
        return {"guidance_scale": OMIT}
    if pipeline == KLEIN.name and is_distilled(pipe):
        return {"guidance_scale": 1.0}
    return {}


def is_distilled(pipe: Any) -> bool:
    """Whether a [klein] pipeline's checkpoint is step-distilled (4 steps, no guidance)."""
    return bool(getattr(pipe.config, "is_distilled", False))


FAMILY = Flux2Family()
