"""A planned task plus its decoded inputs, as the engine request for its pipeline kind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluxhost.engine.types import (
    Control,
    Expand,
    Fill,
    Flux2,
    ImagePrompt,
    Kontext,
    LoraSpec,
    TextToImage,
)
from fluxhost.kinds import FLUX2_PIPELINES
from fluxhost.worker.inputs import InputError, fill_mask, fit_size, open_image, resized
from fluxhost.worker.jobs import (
    FLUX2_IMAGE_FIELDS,
    KONTEXT_IMAGE_FIELDS,
    Plan,
    flux2_size,
    kontext_image_size,
)

if TYPE_CHECKING:
    from PIL import Image

EngineRequest = TextToImage | Fill | Control | Expand | Kontext | Flux2


def engine_request(p: Plan, inputs: dict[str, bytes], lora: LoraSpec | None) -> EngineRequest:
    common: dict[str, Any] = {"prompt": p.prompt, "steps": p.steps, "guidance": p.guidance,
                              "seed": p.seed, "lora": lora}
    if p.pipeline == "base":
        image_prompt = None
        if "image_prompt" in inputs:
            image = open_image(inputs["image_prompt"], "image_prompt").convert("RGB")
            image_prompt = ImagePrompt(image, p.image_prompt_strength)
        width, height = p.width, p.height
        if not width:  # a Kontext endpoint mapped to base: the size of its input image's aspect
            width, height = _kontext_size(p, _kontext_images(inputs))
        return TextToImage(width=width, height=height, image_prompt=image_prompt, kind=p.kind,
                           **common)
    if p.pipeline == "fill" and p.padding is not None:
        image = open_image(_need(inputs, "image"), "image").convert("RGB")
        top, bottom, left, right = p.padding
        # Generated at the padded canvas fitted to the API's bounds; the engine scales the
        # result back to the canvas and keeps the image's own pixels.
        size = fit_size(left + image.width + right, top + image.height + bottom)
        return Expand(image=image, top=top, bottom=bottom, left=left, right=right,
                      width=size[0], height=size[1], kind=p.kind, **common)
    if p.pipeline == "fill":
        image = open_image(_need(inputs, "image"), "image")
        mask = fill_mask(image, open_image(inputs["mask"], "mask") if "mask" in inputs else None)
        size = fit_size(*image.size)
        return Fill(image=resized(image.convert("RGB"), size), mask=resized(mask, size, mask=True),
                    width=size[0], height=size[1], kind=p.kind, **common)
    if p.pipeline in ("canny", "depth"):
        # preprocessed_image (edges or a depth map made by the client) wins over control_image.
        name = "preprocessed_image" if p.preprocessed else "control_image"
        control = open_image(_need(inputs, name), name).convert("RGB")
        size = fit_size(*control.size)
        return Control(kind=p.kind, control_image=resized(control, size), width=size[0],
                       height=size[1], canny_low=p.canny_low, canny_high=p.canny_high,
                       preprocessed=p.preprocessed, **common)
    if p.pipeline == "kontext":
        images = _kontext_images(inputs)
        width, height = (p.width, p.height) if p.width else _kontext_size(p, images)
        return Kontext(images=images, width=width, height=height, kind=p.kind, **common)
    if p.pipeline in FLUX2_PIPELINES:
        return _flux2(p, inputs, common)
    raise InputError(f"no engine request for pipeline kind {p.kind!r}")


def input_images(req: EngineRequest) -> dict[str, Image.Image]:
    """The input images of an engine request, by their API field names (for moderation)."""
    if isinstance(req, Fill | Expand):
        return {"image": req.image}
    if isinstance(req, Control):
        return {"preprocessed_image" if req.preprocessed else "control_image": req.control_image}
    if isinstance(req, Kontext):
        return dict(zip(KONTEXT_IMAGE_FIELDS, req.images, strict=False))
    if isinstance(req, Flux2):  # (named by position: a gap in the fields shifts the names)
        return dict(zip(FLUX2_IMAGE_FIELDS, req.references, strict=False))
    return {"image_prompt": req.image_prompt.image} if req.image_prompt else {}


def _flux2(p: Plan, inputs: dict[str, bytes], common: dict[str, Any]) -> Flux2:
    """The references in field order (input_image, input_image_2, ...), RGB; a side the
    request left to the model is the first reference's (planning decided the rest)."""
    references = tuple(open_image(inputs[name], name).convert("RGB")
                       for name in FLUX2_IMAGE_FIELDS if name in inputs)
    width, height = p.width, p.height
    if not (width and height) and p.megapixels and references:
        # A Kontext endpoint moved onto FLUX.2: Kontext's size, the first image's aspect.
        width, height = _kontext_size(p, references)
    elif not (width and height):
        width, height = flux2_size(width, height, references[0].size if references else None)
    return Flux2(references=references, width=width, height=height, kind=p.kind, **common)


def _kontext_images(inputs: dict[str, bytes]) -> tuple[Image.Image, ...]:
    return tuple(open_image(inputs[name], name).convert("RGB")
                 for name in KONTEXT_IMAGE_FIELDS if name in inputs)


def _kontext_size(p: Plan, images: tuple[Image.Image, ...]) -> tuple[int, int]:
    if not images or not p.megapixels:
        raise InputError("no aspect_ratio and no input image to take the size from")
    return kontext_image_size(*images[0].size, p.megapixels)


def _need(inputs: dict[str, bytes], name: str) -> bytes:
    if name not in inputs:
        if name == "control_image":
            raise InputError("neither control_image nor preprocessed_image is given")
        raise InputError(f"{name} is missing from storage")
    return inputs[name]
