"""From a task's endpoint and params to what the engine must run, read off the endpoint's catalog
record. Pure: no engine imports that pull torch, so it is cheap to test, and the API prices a
submission with the same plan the worker will run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fluxhost import catalog
from fluxhost.catalog import Endpoint
from fluxhost.kinds import BUILTIN_KINDS, FLUX2_PIPELINES
from fluxhost.planning.sizes import KONTEXT_MULTIPLE, area_size, flux2_size, ultra_size
from fluxhost.settings import Settings
from fluxhost.store.tasks import INPUTS_PARAM
from fluxhost.wire import parse_aspect_ratio

# The endpoints with an image prompt but no strength field for it (flux-pro-finetuned,
# flux-pro, ...): Redux at full strength, i.e. the image's conditioning alone, a "remix" of it.
PRO_IMAGE_PROMPT_STRENGTH = 1.0
# Ultra's `raw` ("less processed, more natural-looking images"): FLUX.1-dev has no raw mode; the
# open-weights lever for a less polished, more natural look is lower guidance, so raw caps the
# guidance at this.
RAW_GUIDANCE = 2.0
# Steps and guidance of the FLUX.2 endpoints without such fields (pro, pro-preview, max,
# klein), by the pipeline that serves them: FLUX.2 [dev]'s reference settings (50 steps, its
# distilled guidance 4.0; its model card calls 28 steps a good trade-off, but pro and max are
# the quality endpoints), and a distilled klein's 4 steps (guidance is no input of a distilled
# klein; 1.0 is what its pipeline takes then).
FLUX2_STEPS_GUIDANCE: dict[str, tuple[int, float]] = {
    "flux2": (50, 4.0), "klein": (4, 1.0), "klein-kv": (4, 1.0)}


@dataclass(frozen=True)
class Plan:
    kinds: tuple[str, ...]  # pipeline kinds the model set must have, main one first
    pipeline: str  # the pipeline the main kind runs (base, fill, canny, depth, kontext)
    prompt: str
    # 0 for image-driven endpoints: the input image decides (worker/requests.py); FLUX.2: a
    # side the request left to the model and its first reference will decide, else final
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    output_format: str
    finetune_id: str | None  # None: the base model, no LoRA (the non-finetuned endpoints)
    finetune_strength: float
    inputs: dict[str, str] = field(default_factory=dict)  # input field -> blob key
    image_prompt_strength: float = PRO_IMAGE_PROMPT_STRENGTH
    canny_low: int = 50
    canny_high: int = 200
    # canny/depth: the control image is `preprocessed_image`, used as given
    preprocessed: bool = False
    # expand: pixels added at the top, bottom, left and right
    padding: tuple[int, int, int, int] | None = None
    # kontext without aspect_ratio but with an input image: output size at this many
    # megapixels in the first input image's aspect (width and height are 0 until then)
    megapixels: float = 0.0

    @property
    def kind(self) -> str:
        return self.kinds[0]


def plan(endpoint: str, params: dict[str, Any], settings: Settings,
         kind: str | None = None) -> Plan:
    """`kind`: the pipeline kind the task was stored (and claimed) with; default: the kind
    that serves `endpoint` now. The engine request follows the kind, the sizes and defaults
    follow the endpoint, so an endpoint mapped to another kind (e.g. flux-dev on kontext)
    runs there with its own fields. KeyError for an endpoint the catalog does not have."""
    record = catalog.get(endpoint)
    kinds = [kind or settings.endpoint_kind(endpoint)]
    # The pipeline the kind runs (an operator-defined kind runs one FLUXHOST_MODELS names; a
    # kind this process does not know keeps its name, so that the task ends saying it is missing).
    pipeline = settings.kind_pipeline(kinds[0]) or kinds[0]
    inputs: dict[str, str] = {k: v for k, v in (params.get(INPUTS_PARAM) or {}).items() if v}
    if inputs.get("image_prompt") and pipeline == "base":  # Redux feeds the base pipeline
        kinds.append("redux")
    width, height, steps, guidance, extra = _sized(record, params, inputs, settings, kinds[0])
    # A control image given preprocessed (edges, a depth map) is used as given.
    extra["preprocessed"] = "preprocessed_image" in inputs
    return Plan(
        kinds=tuple(kinds),
        pipeline=pipeline,
        prompt=params.get("prompt") or "",
        width=width,
        height=height,
        steps=steps,
        guidance=guidance,
        seed=int(params["seed"]),
        output_format=params.get("output_format") or record.output_format,
        finetune_id=params.get("finetune_id"),
        finetune_strength=float(_or(params.get("finetune_strength"), 1.0)),
        inputs=inputs,
        **extra,
        **record.extras(params),
    )


def _sized(record: Endpoint, params: dict[str, Any], inputs: dict[str, str],
           settings: Settings, kind: str) -> tuple[int, int, int, float, dict[str, Any]]:
    """Width, height, steps, guidance and further plan fields, by the record's sizing."""
    extra: dict[str, Any] = {}
    if record.sizing == "flux2":
        return (*_flux2_size(record, params, inputs),
                *_flux2_steps_guidance(record, params, settings, kind), extra)
    if record.sizing == "ultra":
        width, height = ultra_size(params["aspect_ratio"], settings.resolved_ultra_megapixels)
        guidance = settings.ultra_guidance
        if params.get("raw"):
            guidance = min(guidance, RAW_GUIDANCE)
        return width, height, settings.ultra_steps, guidance, extra
    if record.sizing == "kontext":
        megapixels = settings.resolved_kontext_megapixels
        aspect = params.get("aspect_ratio")
        if aspect:
            width, height = area_size(*parse_aspect_ratio(aspect), megapixels, KONTEXT_MULTIPLE)
        elif any(name in inputs for name in record.size_from):
            width = height = 0  # the first input image's aspect (worker/requests.py)
            extra["megapixels"] = megapixels
        else:  # text to image
            width, height = area_size(1, 1, megapixels, KONTEXT_MULTIPLE)
        if settings.kind_pipeline(kind) in FLUX2_PIPELINES:  # Kontext moved onto FLUX.2
            return (width, height, *_flux2_steps_guidance(record, params, settings, kind),
                    extra)
        return width, height, settings.kontext_steps, settings.kontext_guidance, extra
    if record.sizing == "request":
        width, height = int(params["width"]), int(params["height"])
    else:  # "input": the input image decides (worker/requests.py)
        width = height = 0
    return (width, height, *_steps_guidance(record, params), extra)


def _flux2_size(record: Endpoint, params: dict[str, Any],
                inputs: dict[str, str]) -> tuple[int, int]:
    """The final size, unless a side is left to the model and a reference is given: then the
    request's sides (0 for the one left), for the worker to finish with the reference."""
    width, height = int(params.get("width") or 0), int(params.get("height") or 0)
    if (width and height) or not any(name in inputs for name in record.size_from):
        return flux2_size(width, height, None)
    return width, height


def _flux2_steps_guidance(record: Endpoint, params: dict[str, Any], settings: Settings,
                          kind: str) -> tuple[int, float]:
    """flex's own fields; the others' by the kind serving them: those FLUXHOST_MODELS gives it,
    else its pipeline's (a kind this process does not know: the endpoint's default kind's)."""
    if record.steps_guidance is not None:
        return _steps_guidance(record, params)
    pipeline = settings.kind_pipeline(kind) or BUILTIN_KINDS[record.kind]
    steps, guidance = FLUX2_STEPS_GUIDANCE.get(pipeline, FLUX2_STEPS_GUIDANCE["flux2"])
    own_steps, own_guidance = settings.kind_steps_guidance(kind)
    return own_steps or steps, guidance if own_guidance is None else own_guidance


def _steps_guidance(record: Endpoint, params: dict[str, Any]) -> tuple[int, float]:
    """The request's steps and guidance; null (or, for a request without such fields, e.g.
    flux-pro-1.1's): the endpoint's defaults. The finetuned endpoints always carry both."""
    default = record.steps_guidance
    if default is None:
        return int(params["steps"]), float(params["guidance"])
    if "steps" not in record.model.model_fields:
        return default
    return int(_or(params.get("steps"), default[0])), float(_or(params.get("guidance"), default[1]))


def _or(value: Any, default: float) -> Any:
    return default if value is None else value
