"""A planned task plus its decoded inputs, as the engine request for its pipeline kind."""

from __future__ import annotations

from typing import Any

from fluxhost.engine.types import Control, Fill, ImagePrompt, LoraSpec, TextToImage
from fluxhost.worker.inputs import InputError, fill_mask, fit_size, open_image, resized
from fluxhost.worker.jobs import Plan

EngineRequest = TextToImage | Fill | Control


def engine_request(p: Plan, inputs: dict[str, bytes], lora: LoraSpec | None) -> EngineRequest:
    common: dict[str, Any] = {"prompt": p.prompt, "steps": p.steps, "guidance": p.guidance,
                              "seed": p.seed, "lora": lora}
    if p.kind == "base":
        image_prompt = None
        if "image_prompt" in inputs:
            image = open_image(inputs["image_prompt"], "image_prompt").convert("RGB")
            image_prompt = ImagePrompt(image, p.image_prompt_strength)
        return TextToImage(width=p.width, height=p.height, image_prompt=image_prompt, **common)
    if p.kind == "fill":
        image = open_image(_need(inputs, "image"), "image")
        mask = fill_mask(image, open_image(inputs["mask"], "mask") if "mask" in inputs else None)
        size = fit_size(*image.size)
        return Fill(image=resized(image.convert("RGB"), size), mask=resized(mask, size, mask=True),
                    width=size[0], height=size[1], **common)
    if p.kind in ("canny", "depth"):
        control = open_image(_need(inputs, "control_image"), "control_image").convert("RGB")
        size = fit_size(*control.size)
        return Control(kind=p.kind, control_image=resized(control, size), width=size[0],  # type: ignore[arg-type]
                       height=size[1], canny_low=p.canny_low, canny_high=p.canny_high, **common)
    raise InputError(f"no engine request for pipeline kind {p.kind!r}")


def _need(inputs: dict[str, bytes], name: str) -> bytes:
    if name not in inputs:
        raise InputError(f"{name} is missing from storage")
    return inputs[name]
