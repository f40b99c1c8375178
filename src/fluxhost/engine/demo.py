"""Model sets that say how they are served, like the shipped emoji64 demo (models/emoji64).

A pipeline folder whose parent holds `fluxhost-model.json` (written by
`python -m fluxhost.training.emoji export`) is served the way the manifest says:

- `native_size`: the model only knows this square resolution (emoji64: 64x64, emoji on white).
  The pipeline always runs at native_size x native_size; the result is scaled (LANCZOS) to fit
  the requested width x height and centred on white where the aspect ratio differs (letterbox).
  The API's size rules (256 and up) are unchanged; a 1024x1024 answer from emoji64 is a 64x64
  image scaled up, as the manifest's description, /health and the server banner say.
- `true_cfg`: the model has no guidance embedding; it was trained with dropped captions, so the
  request's guidance becomes true classifier-free guidance against the empty prompt
  (FluxPipeline's `true_cfg_scale` with `negative_prompt=""`; guidance <= 1 turns it off).
  FLUX.1 pipelines only: a FLUX.2 [klein] folder whose model_index says is_distilled false runs
  true CFG at `guidance_scale` by itself.
- `max_true_cfg`: true CFG above this is run at this (FLUX.1 Fill's default guidance, 60, is a
  distilled-guidance scale that would wreck true CFG).
- `pipeline_classes`: pipeline (as fluxhost names them) -> the diffusers class that loads the
  set's folder for it, in place of the stock one: emoji64 has no Fill-trained transformer, so
  its `fill` kind is `FluxInpaintPipeline` on gen 1's own weights. An inpainting call (one with
  `mask_image`) runs at strength 1 (the masked region is drawn from noise; the rest is kept by
  the pipeline's latent blending), on the image and mask padded to a square (white, kept), and
  the square's result is cropped back to the image's aspect before scaling to width x height.
- `flux2_max_sequence_length`: the prompt length a FLUX.2 folder of the set was trained with
  (emoji2: 20 tokens), passed as `max_sequence_length` unless the caller gives one (the FLUX.2
  pipelines pad to 512 by default). Reference images of a FLUX.2 call are letterboxed on white
  to native_size x native_size, the only size the model saw them at.

Everything else -- attributes, LoRA calls, components -- goes to the wrapped pipeline unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "fluxhost-model.json"
DEMO_MODEL_NOTE = (
    "emoji64: demo models at 64x64 trained on emoji, not FLUX. Images are generated at 64x64 "
    "and scaled to the requested size. FLUX.1 endpoints (text to image, fill, expand) run a "
    "FLUX.1-architecture model, the FLUX.2 and Kontext endpoints a FLUX.2 "
    "[klein]-architecture one that also edits input images ('make it blue'); canny and depth "
    "are not served."
)
DEMO_BANNER = (
    "fluxhost is serving the EMOJI64 DEMO MODELS: small FLUX.1- and FLUX.2-architecture models "
    "trained on emoji at 64x64 -- not FLUX. Prompts are emoji names ('red apple', 'rocket'), "
    "edits short instructions ('make it blue'); images are generated at 64x64 and scaled up. "
    "Set FLUXHOST_MODELS to serve real models."
)
SIZE_MULTIPLE = 16


@dataclass(frozen=True)
class Manifest:
    name: str
    description: str
    native_size: int | None = None
    true_cfg: bool = False
    flux2_max_sequence_length: int | None = None
    max_true_cfg: float | None = None
    pipeline_classes: dict[str, str] = field(default_factory=dict)


def read_manifest(source: str) -> Manifest | None:
    """The manifest of the set the pipeline folder `source` belongs to, if it has one."""
    path = Path(source).expanduser()
    if not path.is_dir():
        return None
    file = path.parent / MANIFEST
    if not file.is_file():
        return None
    data = json.loads(file.read_text())
    native = data.get("native_size")
    if native is not None and (not isinstance(native, int) or native < SIZE_MULTIPLE):
        raise ValueError(f"{file}: native_size must be an integer >= {SIZE_MULTIPLE}, "
                         f"got {native!r}")
    length = data.get("flux2_max_sequence_length")
    if length is not None and (not isinstance(length, int) or length < 1):
        raise ValueError(f"{file}: flux2_max_sequence_length must be a positive integer, "
                         f"got {length!r}")
    cap = data.get("max_true_cfg")
    if cap is not None and (not isinstance(cap, int | float) or not 1 <= cap <= 100):
        raise ValueError(f"{file}: max_true_cfg must be a number in 1..100, got {cap!r}")
    classes = data.get("pipeline_classes", {})
    if not isinstance(classes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.isidentifier()
            for k, v in classes.items()):
        raise ValueError(f"{file}: pipeline_classes must map pipeline names to diffusers class "
                         f"names, got {classes!r}")
    return Manifest(name=str(data["name"]), description=str(data.get("description", "")),
                    native_size=native, true_cfg=bool(data.get("true_cfg", False)),
                    flux2_max_sequence_length=length,
                    max_true_cfg=None if cap is None else float(cap), pipeline_classes=classes)


def pipeline_class(source: str, pipeline: str) -> str | None:
    """The diffusers class the manifest of `source`'s set loads `pipeline` with, if it says."""
    manifest = read_manifest(source)
    return None if manifest is None else manifest.pipeline_classes.get(pipeline)


def fit_on_white(image: Any, width: int, height: int) -> Any:
    """`image` (square) scaled to fit width x height, centred on white."""
    from PIL import Image

    side = min(width, height)
    scaled = image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    if (side, side) == (width, height):
        return scaled
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    canvas.paste(scaled, ((width - side) // 2, (height - side) // 2))
    return canvas


def square_on_white(image: Any, side: int, fill: int | None = None) -> Any:
    """`image` padded to a square on white (centred), then scaled to side x side. `fill`: a
    single-channel image (a mask) padded with that value instead."""
    from PIL import Image

    mode, background = ("RGB", (255, 255, 255)) if fill is None else ("L", fill)
    converted = image.convert(mode)
    width, height = converted.size
    edge = max(width, height)
    canvas = Image.new(mode, (edge, edge), background)
    canvas.paste(converted, ((edge - width) // 2, (edge - height) // 2))
    return canvas.resize((side, side), Image.Resampling.LANCZOS)


def content_box(size: tuple[int, int], side: int) -> tuple[int, int, int, int]:
    """Where an image of `size` lies in its square_on_white(side) square (left, top, right,
    bottom), at least one pixel each way."""
    width, height = size
    scale = side / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = (side - w) // 2, (side - h) // 2
    return left, top, left + w, top + h


class ServedPipeline:
    """A diffusers pipeline run as its manifest says (see the module docstring)."""

    def __init__(self, pipe: Any, manifest: Manifest) -> None:
        self._pipe = pipe
        self.manifest = manifest
        # The wrapped class decides which manifest entries apply (see the module docstring).
        self._flux2 = type(pipe).__name__.startswith("Flux2")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe, name)

    def __call__(self, **kwargs: Any) -> Any:
        width, height = kwargs.pop("width"), kwargs.pop("height")
        native = self.manifest.native_size
        run_w, run_h = (native, native) if native else (width, height)
        if self._flux2:
            self._flux2_inputs(kwargs)
        elif self.manifest.true_cfg and "prompt" in kwargs:
            scale = kwargs.pop("guidance_scale", 1.0)
            cap = self.manifest.max_true_cfg
            kwargs["true_cfg_scale"] = scale if cap is None else min(scale, cap)
            kwargs.setdefault("negative_prompt", "")
        if native and kwargs.get("mask_image") is not None and not self._flux2:
            return self._inpaint(kwargs, native, width, height)
        result = self._pipe(width=run_w, height=run_h, **kwargs)
        if (run_w, run_h) != (width, height) and kwargs.get("output_type", "pil") == "pil":
            result.images = [fit_on_white(image, width, height) for image in result.images]
        return result

    def _inpaint(self, kwargs: dict[str, Any], native: int, width: int, height: int) -> Any:
        from PIL import Image

        image, mask = kwargs.pop("image"), kwargs.pop("mask_image")
        kwargs.setdefault("strength", 1.0)
        result = self._pipe(image=square_on_white(image, native),
                            mask_image=square_on_white(mask.convert("L"), native, fill=0),
                            width=native, height=native, **kwargs)
        if kwargs.get("output_type", "pil") == "pil":
            box = content_box(image.size, native)
            result.images = [out.crop(box).resize((width, height), Image.Resampling.LANCZOS)
                             for out in result.images]
        return result

    def _flux2_inputs(self, kwargs: dict[str, Any]) -> None:
        length = self.manifest.flux2_max_sequence_length
        if length is not None:
            kwargs.setdefault("max_sequence_length", length)
        native = self.manifest.native_size
        if native and kwargs.get("image"):
            kwargs["image"] = [square_on_white(image, native) for image in kwargs["image"]]


def adapt(pipe: Any, source: str) -> Any:
    """`pipe`, wrapped when its set has a manifest."""
    manifest = read_manifest(source)
    return pipe if manifest is None else ServedPipeline(pipe, manifest)
