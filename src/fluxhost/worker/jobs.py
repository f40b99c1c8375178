"""From a task's endpoint and params to what the engine must run. Pure: no engine imports that
pull torch, so it is cheap to test."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fluxhost.settings import Settings

# ENDPOINT_KINDS lives in the store: a task's kind is written on its row at submit.
from fluxhost.store.tasks import ENDPOINT_KINDS, INPUTS_PARAM
from fluxhost.wire import parse_aspect_ratio

__all__ = ["ENDPOINT_KINDS", "Plan", "area_size", "plan", "ultra_size"]


# `flux-pro-finetuned` (and flux-pro, flux-pro-1.1, flux-dev) have no strength field for their
# image prompt: Redux at full strength, i.e. the image's conditioning alone, a "remix" of it.
PRO_IMAGE_PROMPT_STRENGTH = 1.0

ULTRA_ENDPOINTS = ("flux-pro-1.1-ultra-finetuned", "flux-pro-1.1-ultra")
KONTEXT_ENDPOINTS = ("flux-kontext-pro", "flux-kontext-max")
# Text to image at the request's width x height.
SIZED_ENDPOINTS = ("flux-pro-finetuned", "flux-pro-1.1", "flux-pro", "flux-dev")
EXPAND_ENDPOINT = "flux-pro-1.0-expand"
CANNY_ENDPOINTS = ("flux-pro-1.0-canny-finetuned", "flux-pro-1.0-canny")
CONTROL_ENDPOINTS = (*CANNY_ENDPOINTS, "flux-pro-1.0-depth-finetuned", "flux-pro-1.0-depth")
# Steps and guidance of the non-finetuned endpoints, when the request leaves them null: the
# contract's defaults. flux-pro-1.1 has neither field: FLUX.1-dev at the flux-dev defaults.
STEPS_GUIDANCE_DEFAULTS: dict[str, tuple[int, float]] = {
    "flux-pro-1.1": (28, 3.0),
    "flux-pro": (40, 2.5),
    "flux-dev": (28, 3.0),
    "flux-pro-1.0-fill": (50, 60.0),
    "flux-pro-1.0-expand": (50, 60.0),
    "flux-pro-1.0-canny": (50, 30.0),
    "flux-pro-1.0-depth": (50, 15.0),
}
FIXED_STEPS_GUIDANCE = ("flux-pro-1.1",)  # no such fields in the request
# Ultra's `raw` ("less processed, more natural-looking images"): FLUX.1-dev has no raw mode; the
# open-weights lever for a less polished, more natural look is lower guidance, so raw caps the
# guidance at this.
RAW_GUIDANCE = 2.0
# Kontext's own bounds: aspect ratios between 21:9 and 9:21, sides multiples of 16.
KONTEXT_MULTIPLE = 16
KONTEXT_IMAGE_FIELDS = ("input_image", "input_image_2", "input_image_3", "input_image_4")


@dataclass(frozen=True)
class Plan:
    kinds: tuple[str, ...]  # pipeline kinds the model set must have, main one first
    pipeline: str  # the pipeline the main kind runs (base, fill, canny, depth, kontext)
    prompt: str
    width: int  # 0 for image-driven endpoints: the input image decides (worker/inputs.py)
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


def ultra_size(aspect_ratio: str, megapixels: float, multiple: int = 32) -> tuple[int, int]:
    """Width and height near `megapixels` at this aspect ratio, each a multiple of `multiple`."""
    w, h = parse_aspect_ratio(aspect_ratio)
    return area_size(w, h, megapixels, multiple)


def area_size(
    aspect_w: float, aspect_h: float, megapixels: float, multiple: int
) -> tuple[int, int]:
    """Width and height near `megapixels` at aspect `aspect_w`:`aspect_h`, each a multiple of
    `multiple` (at least `multiple`)."""
    pixels = megapixels * 1_000_000
    width = math.sqrt(pixels * aspect_w / aspect_h)
    height = width * aspect_h / aspect_w
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )


def kontext_image_size(width: int, height: int, megapixels: float) -> tuple[int, int]:
    """Kontext's output size for an input image of this size: its aspect, clamped to
    21:9..9:21, at `megapixels`, sides multiples of 16."""
    aspect = min(max(width / height, 9 / 21), 21 / 9)
    return area_size(aspect, 1.0, megapixels, KONTEXT_MULTIPLE)


def endpoint_kind(endpoint: str, settings: Settings) -> str:
    """The pipeline kind serving `endpoint`: the settings' override where they have one
    (FLUXHOST_ENDPOINT_KINDS), else the default mapping."""
    override = getattr(settings, "endpoint_kind", None)
    return str(override(endpoint)) if callable(override) else ENDPOINT_KINDS[endpoint]


def plan(endpoint: str, params: dict[str, Any], settings: Settings,
         kind: str | None = None) -> Plan:
    """`kind`: the pipeline kind the task was stored (and claimed) with; default: the kind
    that serves `endpoint` now. The engine request follows the kind, the sizes and defaults
    follow the endpoint, so an endpoint mapped to another kind (e.g. flux-dev on kontext)
    runs there with its own fields."""
    kinds = [kind or endpoint_kind(endpoint, settings)]
    # The pipeline the kind runs (an operator-defined kind runs one FLUXHOST_MODELS names; a
    # kind this process does not know keeps its name, so that the task ends saying it is missing).
    pipeline = settings.kind_pipeline(kinds[0]) or kinds[0]
    inputs: dict[str, str] = {k: v for k, v in (params.get(INPUTS_PARAM) or {}).items() if v}
    if inputs.get("image_prompt") and pipeline == "base":  # Redux feeds the base pipeline
        kinds.append("redux")
    extra: dict[str, Any] = {}
    if endpoint in ULTRA_ENDPOINTS:
        width, height = ultra_size(params["aspect_ratio"], settings.resolved_ultra_megapixels)
        steps, guidance = settings.ultra_steps, settings.ultra_guidance
        if params.get("raw"):
            guidance = min(guidance, RAW_GUIDANCE)
        extra["image_prompt_strength"] = float(_or(params.get("image_prompt_strength"), 0.1))
    elif endpoint in KONTEXT_ENDPOINTS:
        steps, guidance = settings.kontext_steps, settings.kontext_guidance
        megapixels = settings.resolved_kontext_megapixels
        aspect = params.get("aspect_ratio")
        if aspect:
            width, height = area_size(*parse_aspect_ratio(aspect), megapixels, KONTEXT_MULTIPLE)
        elif any(field in inputs for field in KONTEXT_IMAGE_FIELDS):
            width = height = 0  # the first input image's aspect (worker/requests.py)
            extra["megapixels"] = megapixels
        else:  # text to image
            width, height = area_size(1, 1, megapixels, KONTEXT_MULTIPLE)
    elif endpoint in SIZED_ENDPOINTS:
        width, height = int(params["width"]), int(params["height"])
        steps, guidance = _steps_guidance(endpoint, params)
    else:
        width = height = 0
        steps, guidance = _steps_guidance(endpoint, params)
    if endpoint in CANNY_ENDPOINTS:
        # null thresholds mean the defaults, as the contract's defaults say
        extra["canny_low"] = int(_or(params.get("canny_low_threshold"), 50))
        extra["canny_high"] = int(_or(params.get("canny_high_threshold"), 200))
    if endpoint in CONTROL_ENDPOINTS:
        extra["preprocessed"] = "preprocessed_image" in inputs
    if endpoint == EXPAND_ENDPOINT:
        extra["padding"] = tuple(int(_or(params.get(side), 0))
                                 for side in ("top", "bottom", "left", "right"))
    default_format = "png" if endpoint in KONTEXT_ENDPOINTS else "jpeg"
    return Plan(
        kinds=tuple(kinds),
        pipeline=pipeline,
        prompt=params.get("prompt") or "",
        width=width,
        height=height,
        steps=steps,
        guidance=guidance,
        seed=int(params["seed"]),
        output_format=params.get("output_format") or default_format,
        finetune_id=params.get("finetune_id"),
        finetune_strength=float(_or(params.get("finetune_strength"), 1.0)),
        inputs=inputs,
        **extra,
    )


def _steps_guidance(endpoint: str, params: dict[str, Any]) -> tuple[int, float]:
    """The request's steps and guidance; null (or, for flux-pro-1.1, no such field): the
    endpoint's defaults. The finetuned endpoints always carry both."""
    default = STEPS_GUIDANCE_DEFAULTS.get(endpoint)
    if default is None:
        return int(params["steps"]), float(params["guidance"])
    if endpoint in FIXED_STEPS_GUIDANCE:
        return default
    return int(_or(params.get("steps"), default[0])), float(_or(params.get("guidance"), default[1]))


def _or(value: Any, default: float) -> Any:
    return default if value is None else value
