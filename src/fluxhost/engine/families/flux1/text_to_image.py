"""FLUX.1 text to image (FluxPipeline), optionally conditioned on an image prompt through Redux
(FluxPriorReduxPipeline: see fluxhost.engine.families.flux1.redux for how strength blends)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluxhost.engine.checks import check_request
from fluxhost.engine.families.flux1 import common
from fluxhost.engine.families.flux1.redux import check_strength, image_prompt_embeds
from fluxhost.engine.families.flux1.training import Flux1Training
from fluxhost.engine.families.protocol import PipelineSpec, Runner
from fluxhost.engine.types import MissingPipeline, StepCallback, StopCheck, TextToImage

if TYPE_CHECKING:
    from PIL import Image

BASE = common.pipeline("base", "FluxPipeline")
# No text encoders of its own (FLUX.1-Redux-dev ships none): it borrows base's, to append its
# image tokens to the T5 tokens; and it only ever runs together with a base pipeline anyway.
REDUX = PipelineSpec("redux", "FluxPriorReduxPipeline", shared=common.TEXT_COMPONENTS,
                     borrows_from="base")


class TextToImageFamily(Flux1Training):
    name = "flux1-text-to-image"
    request_type = TextToImage
    pipelines = (BASE,)
    helpers = (REDUX,)

    def run(self, engine: Runner, req: TextToImage, on_step: StepCallback | None,
            should_stop: StopCheck | None) -> Image.Image:
        check_request(req)
        image_prompt = req.image_prompt
        if image_prompt is not None:
            check_strength(image_prompt.strength)
            # Even at strength 0: whether a request is served must not hinge on its strength.
            if REDUX.name not in engine.available_kinds():
                raise MissingPipeline(REDUX.name)
        engine.check_kind(req.kind, (BASE.name,))
        pipe = engine.load(req.kind)
        if image_prompt is None or image_prompt.strength == 0:
            return engine.generate(pipe, req, on_step, should_stop,
                                   lambda: common.prompt_inputs(pipe, req.prompt))
        redux = engine.load(REDUX.name)

        def inputs() -> dict[str, Any]:
            length = common.max_sequence_length(pipe)
            embeds = image_prompt_embeds(pipe, redux, req.prompt, image_prompt, length)
            return {**embeds, "max_sequence_length": length}

        return engine.generate(pipe, req, on_step, should_stop, inputs)


FAMILY = TextToImageFamily()
