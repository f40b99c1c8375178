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

__all__ = ["ENDPOINT_KINDS", "Plan", "plan", "ultra_size"]


# `flux-pro-finetuned` has no strength field for its image prompt: Redux at full strength,
# i.e. the image's conditioning alone, as a "remix" of the image.
PRO_IMAGE_PROMPT_STRENGTH = 1.0


@dataclass(frozen=True)
class Plan:
    kinds: tuple[str, ...]  # pipeline kinds the model set must have, main one first
    prompt: str
    width: int  # 0 for image-driven endpoints: the input image decides (worker/inputs.py)
    height: int
    steps: int
    guidance: float
    seed: int
    output_format: str
    finetune_id: str
    finetune_strength: float
    inputs: dict[str, str] = field(default_factory=dict)  # input field -> blob key
    image_prompt_strength: float = PRO_IMAGE_PROMPT_STRENGTH
    canny_low: int = 50
    canny_high: int = 200

    @property
    def kind(self) -> str:
        return self.kinds[0]


def ultra_size(aspect_ratio: str, megapixels: float, multiple: int = 32) -> tuple[int, int]:
    """Width and height near `megapixels` at this aspect ratio, each a multiple of `multiple`."""
    w, h = parse_aspect_ratio(aspect_ratio)
    pixels = megapixels * 1_000_000
    width = math.sqrt(pixels * w / h)
    height = width * h / w
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )


def plan(endpoint: str, params: dict[str, Any], settings: Settings) -> Plan:
    kinds = [ENDPOINT_KINDS[endpoint]]
    inputs: dict[str, str] = dict(params.get(INPUTS_PARAM) or {})
    if inputs.get("image_prompt"):
        kinds.append("redux")
    extra: dict[str, Any] = {}
    if endpoint == "flux-pro-1.1-ultra-finetuned":
        width, height = ultra_size(params["aspect_ratio"], settings.resolved_ultra_megapixels)
        steps, guidance = settings.ultra_steps, settings.ultra_guidance
        extra["image_prompt_strength"] = float(params.get("image_prompt_strength", 0.1))
    elif endpoint == "flux-pro-finetuned":
        width, height = int(params["width"]), int(params["height"])
        steps, guidance = int(params["steps"]), float(params["guidance"])
    else:
        width = height = 0
        steps, guidance = int(params["steps"]), float(params["guidance"])
    if endpoint == "flux-pro-1.0-canny-finetuned":
        # null thresholds mean the defaults, as the contract's defaults say
        extra["canny_low"] = _or(params.get("canny_low_threshold"), 50)
        extra["canny_high"] = _or(params.get("canny_high_threshold"), 200)
    return Plan(
        kinds=tuple(kinds),
        prompt=params.get("prompt") or "",
        width=width,
        height=height,
        steps=steps,
        guidance=guidance,
        seed=int(params["seed"]),
        output_format=params.get("output_format") or "jpeg",
        finetune_id=params["finetune_id"],
        finetune_strength=float(params["finetune_strength"]),
        inputs=inputs,
        **extra,
    )


def _or(value: Any, default: int) -> int:
    return default if value is None else int(value)
