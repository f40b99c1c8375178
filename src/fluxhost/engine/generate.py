"""One denoising run: a loaded pipeline, a request's settings and its family's inputs -> an image.

The seed drives a CPU generator, so a request gives the same image on every device. The caller
(Engine.generate) holds the run lock: pipelines, their schedulers and their active LoRA adapter
are mutable shared state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluxhost.engine import speed
from fluxhost.engine.types import Interrupted, Request, StepCallback, StopCheck

if TYPE_CHECKING:
    from PIL import Image

    from fluxhost.engine.lora import LoraCache

# A family's argument of this value is left out of the call: for a pipeline without that
# parameter (Flux2KleinKVPipeline takes no guidance_scale).
OMIT: Any = object()


def denoise(
    pipe: Any,
    req: Request,
    loras: LoraCache,
    kwargs: dict[str, Any],
    on_step: StepCallback | None,
    should_stop: StopCheck | None,
) -> Image.Image:
    """Run `pipe(**kwargs)` at the request's size, steps, guidance and seed, with its LoRA (or
    none), reporting each step to `on_step` and stopping with Interrupted when `should_stop`.
    A family's `kwargs` override those arguments (FLUX.2 [klein]'s guidance is its own)."""
    import torch

    def on_step_end(p: Any, index: int, _t: Any, _kwargs: dict[str, Any]) -> dict[str, Any]:
        if on_step is not None:
            on_step(index + 1, getattr(p, "num_timesteps", None) or req.steps)
        if should_stop is not None and should_stop():
            raise Interrupted(index + 1)
        return {}

    if req.lora is not None:
        loras.apply(pipe, req.lora.key, req.lora.path, req.lora.strength)
    else:
        loras.disable(pipe)
    call: dict[str, Any] = {
        "width": req.width,
        "height": req.height,
        "num_inference_steps": req.steps,
        "guidance_scale": req.guidance,
        # A CPU generator makes the initial noise, hence the image for a seed, the same on
        # every device.
        "generator": torch.Generator("cpu").manual_seed(req.seed),
        "callback_on_step_end": on_step_end,
        "callback_on_step_end_tensor_inputs": [],
        "output_type": "pil",
        **kwargs,
    }
    with speed.generation(pipe):  # a First Block Cache starts empty, in its cache context
        result = pipe(**{name: value for name, value in call.items() if value is not OMIT})
    image: Image.Image = result.images[0]
    return image
