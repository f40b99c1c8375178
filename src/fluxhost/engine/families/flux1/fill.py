"""FLUX.1 Fill (FluxFillPipeline): inpainting, and outpainting as inpainting on a padded canvas."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fluxhost.engine.checks import check_request, fit
from fluxhost.engine.expand import expand_canvas, keep_original
from fluxhost.engine.families.flux1 import common
from fluxhost.engine.families.protocol import PipelineSpec, Runner
from fluxhost.engine.types import Expand, Fill, StepCallback, StopCheck

if TYPE_CHECKING:
    from PIL import Image

FILL = common.pipeline("fill", "FluxFillPipeline")


class FillFamily:
    name = "flux1-fill"
    request_type = Fill
    pipelines = (FILL,)
    helpers: tuple[PipelineSpec, ...] = ()

    def run(self, engine: Runner, req: Fill, on_step: StepCallback | None,
            should_stop: StopCheck | None) -> Image.Image:
        """Inpaint `req.image` where `req.mask` is white.

        FLUX Fill regenerates the whole image through the VAE, which only approximates the
        pixels to keep; the result is therefore composited with the input (PIL
        Image.composite, the mask as alpha): where the mask is 0 the output is exactly the
        input, where it is 255 exactly the generated image, and grey mask values blend the two.
        Image and mask are first resized to width x height if they differ from it.
        """
        from PIL import Image

        check_request(req)
        engine.check_kind(req.kind, (FILL.name,))
        pipe = engine.load(req.kind)
        size = (req.width, req.height)
        image = fit(req.image.convert("RGB"), size, Image.Resampling.LANCZOS)
        # Nearest keeps a binary mask binary, so "mask == 0" stays exactly the kept region.
        mask = fit(req.mask.convert("L"), size, Image.Resampling.NEAREST)
        generated = engine.generate(
            pipe, req, on_step, should_stop,
            lambda: {**common.prompt_inputs(pipe, req.prompt), "image": image,
                     "mask_image": mask},
        )
        return Image.composite(generated, image, mask)


class ExpandFamily:
    name = "flux1-expand"
    request_type = Expand
    pipelines = (FILL,)
    helpers: tuple[PipelineSpec, ...] = ()

    def run(self, engine: Runner, req: Expand, on_step: StepCallback | None,
            should_stop: StopCheck | None) -> Image.Image:
        """Outpaint: pad `req.image`, generate the new border with the fill pipeline at
        width x height, scale the result to the padded size and paste the image back, so every
        original pixel is kept exactly (see fluxhost.engine.expand). No padding at all returns
        the image unchanged, without generating."""
        check_request(req)
        image = req.image.convert("RGB")
        if not (req.top or req.bottom or req.left or req.right):
            return image.copy()
        canvas, mask = expand_canvas(image, req.top, req.bottom, req.left, req.right)
        fill = Fill(prompt=req.prompt, image=canvas, mask=mask, width=req.width,
                    height=req.height, steps=req.steps, guidance=req.guidance, seed=req.seed,
                    lora=req.lora, kind=req.kind)
        generated = FILL_FAMILY.run(engine, fill, on_step, should_stop)
        return keep_original(generated, image, canvas.size, req.left, req.top)


FILL_FAMILY = FillFamily()
EXPAND_FAMILY = ExpandFamily()
