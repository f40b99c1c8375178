"""FLUX.1 Kontext (FluxKontextPipeline): image editing from up to four references, placed side by
side into one (fluxhost.engine.families.flux1.references), or text to image with none."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluxhost.engine.checks import check_request
from fluxhost.engine.families.flux1 import common
from fluxhost.engine.families.flux1.references import MAX_REFERENCES, stitch_references
from fluxhost.engine.families.protocol import PipelineSpec, Runner
from fluxhost.engine.types import Kontext, StepCallback, StopCheck

if TYPE_CHECKING:
    from PIL import Image

KONTEXT = common.pipeline("kontext", "FluxKontextPipeline")


class KontextFamily:
    name = "flux1-kontext"
    request_type = Kontext
    pipelines = (KONTEXT,)
    helpers: tuple[PipelineSpec, ...] = ()

    def run(self, engine: Runner, req: Kontext, on_step: StepCallback | None,
            should_stop: StopCheck | None) -> Image.Image:
        """Generate at width x height from the prompt and `req.images` (none: text to image)."""
        check_request(req)
        if len(req.images) > MAX_REFERENCES:
            raise ValueError(
                f"Kontext takes at most {MAX_REFERENCES} reference images, got {len(req.images)}")
        engine.check_kind(req.kind, (KONTEXT.name,))
        pipe = engine.load(req.kind)
        area = req.width * req.height

        def inputs() -> dict[str, Any]:
            reference = stitch_references(req.images, area) if req.images else None
            # max_area = the requested area keeps width x height as asked (the pipeline rescales
            # its size to max_area); the reference is sized here, so no auto resize to ~1 MP.
            return {**common.prompt_inputs(pipe, req.prompt), "image": reference,
                    "max_area": area, "_auto_resize": False}

        return engine.generate(pipe, req, on_step, should_stop, inputs)


FAMILY = KontextFamily()
