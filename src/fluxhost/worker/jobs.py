"""From a task's endpoint and params to what the engine must run. Pure: no engine imports that
pull torch, so it is cheap to test."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fluxhost.settings import Settings
from fluxhost.wire import parse_aspect_ratio

ENDPOINT_KINDS: dict[str, str] = {
    "flux-pro-finetuned": "base",
    "flux-pro-1.1-ultra-finetuned": "base",
    "flux-pro-1.0-fill-finetuned": "fill",
    "flux-pro-1.0-canny-finetuned": "canny",
    "flux-pro-1.0-depth-finetuned": "depth",
}


@dataclass(frozen=True)
class Plan:
    kinds: tuple[str, ...]  # pipeline kinds the model set must have, main one first
    prompt: str
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    output_format: str
    finetune_id: str
    finetune_strength: float


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
    if params.get("_input_blobs", {}).get("image_prompt"):
        kinds.append("redux")
    if endpoint == "flux-pro-1.1-ultra-finetuned":
        width, height = ultra_size(params["aspect_ratio"], settings.resolved_ultra_megapixels)
        steps, guidance = settings.ultra_steps, settings.ultra_guidance
    else:
        width, height = int(params.get("width", 1024)), int(params.get("height", 768))
        steps, guidance = int(params["steps"]), float(params["guidance"])
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
    )
