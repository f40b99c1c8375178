"""Request fields that become plan fields of their own, per endpoint family: each function maps
a task's params to keyword arguments of `fluxhost.planning.Plan`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The contract's defaults of the canny thresholds, where a request leaves them null.
CANNY_LOW, CANNY_HIGH = 50, 200
# Ultra's image prompt strength where a request leaves it null (the contract's default).
ULTRA_IMAGE_PROMPT_STRENGTH = 0.1
EXPAND_SIDES = ("top", "bottom", "left", "right")


def canny_thresholds(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"canny_low": int(_or(params.get("canny_low_threshold"), CANNY_LOW)),
            "canny_high": int(_or(params.get("canny_high_threshold"), CANNY_HIGH))}


def expand_padding(params: Mapping[str, Any]) -> dict[str, Any]:
    """Pixels added at the top, bottom, left and right."""
    return {"padding": tuple(int(_or(params.get(side), 0)) for side in EXPAND_SIDES)}


def ultra_image_prompt(params: Mapping[str, Any]) -> dict[str, Any]:
    strength = _or(params.get("image_prompt_strength"), ULTRA_IMAGE_PROMPT_STRENGTH)
    return {"image_prompt_strength": float(strength)}


def _or(value: Any, default: float) -> Any:
    return default if value is None else value
