"""FLUX.1 Canny and Depth (FluxControlPipeline): generation following the structure of a control
image, which is first turned into canny edges or a depth map (fluxhost.engine.preprocess), the
way BFL made the conditioning images these models were trained on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fluxhost.engine import preprocess
from fluxhost.engine.checks import check_request, fit
from fluxhost.engine.families.flux1 import common
from fluxhost.engine.families.protocol import PipelineSpec, Runner
from fluxhost.engine.types import Control, StepCallback, StopCheck

if TYPE_CHECKING:
    from PIL import Image

CANNY = common.pipeline("canny", "FluxControlPipeline")
DEPTH = common.pipeline("depth", "FluxControlPipeline")
CONTROL_PIPELINES = (CANNY.name, DEPTH.name)


class ControlFamily:
    name = "flux1-control"
    request_type = Control
    pipelines = (CANNY, DEPTH)
    helpers: tuple[PipelineSpec, ...] = ()

    def run(self, engine: Runner, req: Control, on_step: StepCallback | None,
            should_stop: StopCheck | None) -> Image.Image:
        """Generate following the structure of `req.control_image` (see `control_image`)."""
        check_request(req)
        engine.check_kind(req.kind, CONTROL_PIPELINES)
        pipe = engine.load(req.kind)
        estimator = _estimator_for(engine, req)
        canny = engine.pipeline_of(req.kind) == CANNY.name
        return engine.generate(
            pipe, req, on_step, should_stop,
            lambda: {**common.prompt_inputs(pipe, req.prompt),
                     "control_image": _control_image(req, canny, estimator)},
        )


def control_image(engine: Runner, req: Control) -> Image.Image:
    """The conditioning image the control family feeds its pipeline: `req.control_image`
    resized to the output size, then canny edges (req.canny_low/high) or a normalised depth map
    (unless `req.preprocessed`: then used as given)."""
    canny = engine.check_kind(req.kind, CONTROL_PIPELINES) == CANNY.name
    estimator = _estimator_for(engine, req)
    with engine.exclusive():  # the depth estimator shares the device with generation
        return _control_image(req, canny, estimator)


def _estimator_for(engine: Runner, req: Control) -> preprocess.DepthEstimator | None:
    # A preprocessed control image is used as given: no depth estimator, not even loaded.
    depth = engine.pipeline_of(req.kind) == DEPTH.name
    return engine.depth_estimator() if depth and not req.preprocessed else None


def _control_image(req: Control, canny: bool,
                   estimator: preprocess.DepthEstimator | None) -> Image.Image:
    from PIL import Image

    # At the output size, so canny thresholds and edge widths mean the same at any input size.
    source = fit(req.control_image.convert("RGB"), (req.width, req.height),
                 Image.Resampling.LANCZOS)
    if req.preprocessed:  # already edges or a depth map: used as given
        return source
    if canny:
        return preprocess.canny_edges(source, req.canny_low, req.canny_high)
    assert estimator is not None
    return preprocess.depth_map(source, estimator)


FAMILY = ControlFamily()
