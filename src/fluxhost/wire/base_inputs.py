"""Request bodies of the non-finetuned generation endpoints, as `base-api.openapi.json` has them.

Unknown fields are ignored (not rejected), as the provider's FastAPI models do. Many fields are
nullable with a non-null default (`"steps": null` is valid JSON for the provider); `params()`
stores such a null as the field's default, so the worker always sees a concrete value."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, HttpUrl, field_validator

from fluxhost.wire import bounds
from fluxhost.wire import fields as f
from fluxhost.wire.enums import OutputFormat
from fluxhost.wire.inputs import (
    CONTROL_DESC,
    GUIDANCE_DESC,
    STEPS_DESC,
    UPSAMPLE_LONG,
    UPSAMPLE_SHORT,
    parse_aspect_ratio,
)
from fluxhost.wire.strict import StrictScalars

FORMAT_DESC_WEBP = "Output format for the generated image. Can be 'jpeg', 'png', or 'webp'."
PROMPT_DESC = "Text prompt for image generation."
PROMPT_EXAMPLE = "ein fantastisches bild"
SEED_DESC = "Optional seed for reproducibility."
GUIDANCE_LONG = (
    "Guidance scale for image generation. High guidance scales improve prompt adherence at the "
    "cost of reduced realism."
)
IMAGE_AS_PROMPT = "Optional base64 encoded image to use as a prompt for generation."
Side = Annotated[int, Field(ge=0, le=2048)]


def _format(default: OutputFormat = OutputFormat.jpeg, webp: bool = True) -> Any:
    return Field(default, description=FORMAT_DESC_WEBP if webp else f.FORMAT_DESC)


def _prompt(description: str = PROMPT_DESC, example: str = PROMPT_EXAMPLE) -> Any:
    return Field("", title="Prompt", description=description,
                 json_schema_extra={"example": example})


def _size(name: str, default: int) -> Any:
    return Field(default, ge=256, le=1440, multiple_of=32, title=name,
                 description=f"{name} of the generated image in pixels. Must be a multiple of 32.")


class BaseGenerationInputs(StrictScalars):
    """Fields every non-finetuned generation request has; the subclasses add theirs. Also the
    attributes `submit` (api/routers/generate.py) reads, as on `GenerationInputs`."""

    prompt: str | None
    seed: int | None
    safety_tolerance: int
    output_format: OutputFormat | None
    prompt_upsampling: bool | None
    webhook_url: HttpUrl | None
    webhook_secret: str | None

    def params(self) -> dict[str, Any]:
        """What the worker needs, JSON-ready (webhook settings live on the task row); a null
        where the contract has a non-null default is stored as that default."""
        params = self.model_dump(mode="json", exclude={"webhook_url", "webhook_secret"})
        for name, info in type(self).model_fields.items():
            if params.get(name, 0) is None and info.default is not None:
                default = info.default
                params[name] = default.value if isinstance(default, OutputFormat) else default
        return params

    # Free text stored as given (in the task's params). The prompt's length bound is a setting
    # (MAX_PROMPT_CHARS), checked by the API.
    @field_validator("prompt", "aspect_ratio", check_fields=False)
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        return None if value is None else bounds.text(value)

    @field_validator("seed", check_fields=False)
    @classmethod
    def _seed_in_range(cls, value: int | None) -> int | None:
        return bounds.seed(value)


class FluxPro11Inputs(BaseGenerationInputs):
    prompt: str | None = _prompt()
    image_prompt: str | None = f.optional_text(
        "Image Prompt", "Optional base64 encoded image to use with Flux Redux."
    )
    width: int = _size("Width", 1024)
    height: int = _size("Height", 768)
    prompt_upsampling: bool = f.prompt_upsampling(UPSAMPLE_LONG + ".")
    seed: int | None = f.seed(SEED_DESC)
    safety_tolerance: int = f.safety_tolerance()
    output_format: OutputFormat | None = _format()
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()


class FluxProInputs(BaseGenerationInputs):
    prompt: str | None = _prompt()
    image_prompt: str | None = f.optional_text("Image Prompt", IMAGE_AS_PROMPT)
    width: int = _size("Width", 1024)
    height: int = _size("Height", 768)
    steps: int | None = Field(40, ge=1, le=50, title="Steps",
                              description="Number of steps for the image generation process.",
                              json_schema_extra={"example": 40})
    prompt_upsampling: bool = f.prompt_upsampling(UPSAMPLE_LONG + ".")
    seed: int | None = f.seed(SEED_DESC)
    guidance: float | None = Field(2.5, ge=1.5, le=5, title="Guidance", description=GUIDANCE_LONG,
                                   json_schema_extra={"example": 2.5})
    safety_tolerance: int = f.safety_tolerance()
    interval: float | None = Field(2, ge=1, le=4, title="Interval",
                                   description="Interval parameter for guidance control.",
                                   json_schema_extra={"example": 2})
    output_format: OutputFormat | None = _format(webp=False)
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()


class FluxDevInputs(BaseGenerationInputs):
    prompt: str = _prompt()
    image_prompt: str | None = f.optional_text("Image Prompt", IMAGE_AS_PROMPT)
    width: int = _size("Width", 1024)
    height: int = _size("Height", 768)
    steps: int | None = Field(28, ge=1, le=50, title="Steps",
                              description="Number of steps for the image generation process.",
                              json_schema_extra={"example": 28})
    prompt_upsampling: bool = f.prompt_upsampling(UPSAMPLE_LONG + ".")
    seed: int | None = f.seed(SEED_DESC)
    guidance: float | None = Field(3.0, ge=1.5, le=5, title="Guidance", description=GUIDANCE_LONG,
                                   json_schema_extra={"example": 3.0})
    safety_tolerance: int = f.safety_tolerance()
    output_format: OutputFormat | None = _format()
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()


class FluxUltraInput(BaseGenerationInputs):
    prompt: str | None = _prompt("The prompt to use for image generation.",
                                 "A beautiful landscape with mountains and a lake")
    prompt_upsampling: bool = f.prompt_upsampling(UPSAMPLE_LONG + ".")
    seed: int | None = f.seed(
        "Optional seed for reproducibility. If not provided, a random seed will be used."
    )
    aspect_ratio: str = Field("16:9", title="Aspect Ratio",
                              description="Aspect ratio of the image between 21:9 and 9:21")
    safety_tolerance: int = f.safety_tolerance()
    output_format: OutputFormat | None = _format()
    raw: bool = Field(False, title="Raw",
                      description="Generate less processed, more natural-looking images",
                      json_schema_extra={"example": False})
    image_prompt: str | None = f.optional_text(
        "Image Prompt", "Optional image to remix in base64 format"
    )
    image_prompt_strength: float = Field(0.1, ge=0.0, le=1.0, title="Image Prompt Strength",
                                         description="Blend between the prompt and the image "
                                         "prompt")
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()

    @field_validator("aspect_ratio")
    @classmethod
    def _aspect_in_range(cls, value: str) -> str:
        parse_aspect_ratio(value)
        return value


# Fill and expand: an image, steps, guidance (fill's ranges), nullable upsampling. (Comments,
# not docstrings: a docstring would become the schema's description.)
class _InpaintInputs(BaseGenerationInputs):
    image: str
    steps: int | None = Field(50, ge=15, le=50, title="Steps", description=STEPS_DESC,
                              json_schema_extra={"example": 50})
    prompt_upsampling: bool | None = f.prompt_upsampling(UPSAMPLE_LONG)
    seed: int | None = f.seed("Optional seed for reproducibility", example=None)
    guidance: float | None = Field(60, ge=1.5, le=100.0, title="Guidance",
                                   description=GUIDANCE_DESC)
    output_format: OutputFormat | None = _format()
    safety_tolerance: int = f.safety_tolerance()
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()


class FluxProFillInputs(_InpaintInputs):
    image: str = Field(
        title="Image",
        description="A Base64-encoded string representing the image you wish to modify. "
        "Can contain alpha mask if desired.",
    )
    mask: str | None = f.optional_text(
        "Mask",
        "A Base64-encoded string representing a mask for the areas you want to modify in the "
        "image. The mask should be the same dimensions as the image and in black and white. "
        "Black areas (0%) indicate no modification, while white areas (100%) specify areas for "
        "inpainting. Optional if you provide an alpha mask in the original image. Validation: "
        "The endpoint verifies that the dimensions of the mask match the original image.",
    )
    prompt: str | None = _prompt(
        "The description of the changes you want to make. This text guides the inpainting "
        "process, allowing you to specify features, styles, or modifications for the masked "
        "area."
    )


class FluxProExpandInputs(_InpaintInputs):
    image: str = Field(
        title="Image",
        description="A Base64-encoded string representing the image you wish to expand.",
    )
    top: Side | None = Field(0, title="Top",
                             description="Number of pixels to expand at the top of the image")
    bottom: Side | None = Field(
        0, title="Bottom", description="Number of pixels to expand at the bottom of the image"
    )
    left: Side | None = Field(
        0, title="Left", description="Number of pixels to expand on the left side of the image"
    )
    right: Side | None = Field(
        0, title="Right", description="Number of pixels to expand on the right side of the image"
    )
    prompt: str | None = _prompt(
        "The description of the changes you want to make. This text guides the expansion "
        "process, allowing you to specify features, styles, or modifications for the expanded "
        "areas."
    )


# Canny and depth: a control image or a preprocessed one (at least one of them).
class _BaseControlInputs(BaseGenerationInputs):
    prompt: str = Field(title="Prompt", description="Text prompt for image generation",
                        json_schema_extra={"example": PROMPT_EXAMPLE})
    control_image: str | None = f.optional_text("Control Image", CONTROL_DESC)
    preprocessed_image: str | None = f.optional_text(
        "Preprocessed Image",
        "Optional pre-processed image that will bypass the control preprocessing step",
    )
    prompt_upsampling: bool | None = f.prompt_upsampling(UPSAMPLE_SHORT)
    seed: int | None = f.seed("Optional seed for reproducibility")
    steps: int | None = Field(50, ge=15, le=50, title="Steps", description=STEPS_DESC)
    output_format: OutputFormat | None = _format(webp=False)
    safety_tolerance: int = f.safety_tolerance(example=False)
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()


Threshold = Annotated[int, Field(ge=0, le=500)]


class CannyInputs(_BaseControlInputs):
    control_image: str | None = f.optional_text(
        "Control Image",
        "Base64 encoded image to use as control input if no preprocessed image is provided",
    )
    preprocessed_image: str | None = f.optional_text(
        "Preprocessed Image",
        "Optional pre-processed image that will bypass the control preprocessing step",
    )
    canny_low_threshold: Threshold | None = Field(
        50, title="Canny Low Threshold", description="Low threshold for Canny edge detection"
    )
    canny_high_threshold: Threshold | None = Field(
        200, title="Canny High Threshold", description="High threshold for Canny edge detection"
    )
    guidance: float | None = Field(30, ge=1.0, le=100.0, title="Guidance",
                                   description=GUIDANCE_DESC)


class DepthInputs(_BaseControlInputs):
    guidance: float | None = Field(15, ge=1.0, le=100.0, title="Guidance",
                                   description=GUIDANCE_DESC)


def _input_image(n: int) -> Any:
    multiref = "" if n == 1 else " *Experimental Multiref*"
    return f.optional_text(
        "Input Image" + ("" if n == 1 else f" {n}"),
        "Base64 encoded image or URL to use with Kontext." + multiref,
    )


# One schema serves /v1/flux-kontext-pro and /v1/flux-kontext-max.
class FluxKontextProInputs(BaseGenerationInputs):
    prompt: str = Field(title="Prompt", description=PROMPT_DESC,
                        json_schema_extra={"example": PROMPT_EXAMPLE})
    input_image: str | None = _input_image(1)
    input_image_2: str | None = _input_image(2)
    input_image_3: str | None = _input_image(3)
    input_image_4: str | None = _input_image(4)
    seed: int | None = f.seed(SEED_DESC)
    aspect_ratio: str | None = f.optional_text(
        "Aspect Ratio", "Aspect ratio of the image between 21:9 and 9:21"
    )
    output_format: OutputFormat | None = _format(OutputFormat.png)
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()
    prompt_upsampling: bool = f.prompt_upsampling(UPSAMPLE_LONG + ".")
    safety_tolerance: int = f.safety_tolerance()

    @field_validator("aspect_ratio")
    @classmethod
    def _aspect_in_range(cls, value: str | None) -> str | None:
        if value is not None:
            parse_aspect_ratio(value)
        return value


BASE_MODELS: tuple[type[BaseGenerationInputs], ...] = (
    FluxPro11Inputs, FluxProInputs, FluxDevInputs, FluxUltraInput, FluxProFillInputs,
    FluxProExpandInputs, CannyInputs, DepthInputs, FluxKontextProInputs,
)
