"""Request bodies of the finetuned generation endpoints, as `finetune-api.openapi.json` has them.

Unknown fields are ignored (not rejected), as the provider's FastAPI models do."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, HttpUrl, field_validator

from fluxhost.wire import bounds
from fluxhost.wire import fields as f
from fluxhost.wire.enums import OutputFormat
from fluxhost.wire.strict import StrictScalars

STEPS_DESC = "Number of steps for the image generation process"
GUIDANCE_DESC = "Guidance strength for the image generation process"
CONTROL_DESC = "Base64 encoded image to use as control input"
UPSAMPLE_SHORT = "Whether to perform upsampling on the prompt"
Threshold = Annotated[int, Field(ge=0, le=500)]
ASPECT_RE = re.compile(r"^\s*(\d{1,5})\s*:\s*(\d{1,5})\s*$")
UPSAMPLE_LONG = (
    "Whether to perform upsampling on the prompt. If active, automatically modifies the prompt "
    "for more creative generation"
)


class GenerationInputs(StrictScalars):
    """Fields every finetuned generation request has; the subclasses add theirs."""

    finetune_id: str
    finetune_strength: float
    prompt: str | None
    seed: int | None
    safety_tolerance: int
    output_format: OutputFormat | None
    prompt_upsampling: bool
    webhook_url: HttpUrl | None
    webhook_secret: str | None

    def params(self) -> dict[str, Any]:
        """What the worker needs, JSON-ready (webhook settings live on the task row)."""
        return self.model_dump(mode="json", exclude={"webhook_url", "webhook_secret"})

    # The free-text fields stored as given (in the task's params); images are base64 and the
    # aspect ratio matches a pattern, so neither can carry NUL. The prompt's length bound is a
    # setting (MAX_PROMPT_CHARS), checked by the API.
    @field_validator("finetune_id", "prompt", check_fields=False)
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        return None if value is None else bounds.text(value)

    @field_validator("seed", check_fields=False)
    @classmethod
    def _seed_in_range(cls, value: int | None) -> int | None:
        return bounds.seed(value)


class FluxProFinetuneInputs(GenerationInputs):
    finetune_id: str = f.finetune_id()
    finetune_strength: float = f.finetune_strength(1.1)
    steps: int = Field(
        40,
        ge=1,
        le=50,
        title="Steps",
        description="Number of steps for the fine-tuning process.",
        json_schema_extra={"example": 40},
    )
    guidance: float = Field(
        2.5,
        ge=1.5,
        le=5.0,
        title="Guidance",
        description="Guidance scale for image generation. High guidance scales improve prompt "
        "adherence at the cost of reduced realism.",
        json_schema_extra={"example": 2.5},
    )
    prompt: str = Field(
        "",
        title="Prompt",
        description="Text prompt for image generation.",
        json_schema_extra={"example": "ein fantastisches bild"},
    )
    image_prompt: str | None = f.optional_text(
        "Image Prompt", "Optional base64 encoded image to use with Flux Redux."
    )
    width: int = Field(
        1024,
        ge=256,
        le=1440,
        multiple_of=32,
        title="Width",
        description="Width of the generated image in pixels. Must be a multiple of 32.",
    )
    height: int = Field(
        768,
        ge=256,
        le=1440,
        multiple_of=32,
        title="Height",
        description="Height of the generated image in pixels. Must be a multiple of 32.",
    )
    prompt_upsampling: bool = f.prompt_upsampling(UPSAMPLE_LONG + ".")
    seed: f.LooseSeed = f.seed("Optional seed for reproducibility.")
    safety_tolerance: int = f.safety_tolerance()
    output_format: OutputFormat = f.output_format()
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()


class FinetuneFluxUltraInput(GenerationInputs):
    finetune_id: str = f.finetune_id()
    finetune_strength: float = f.finetune_strength(1.2)
    prompt: str | None = Field(
        "",
        title="Prompt",
        description="The prompt to use for image generation.",
        json_schema_extra={"example": "A beautiful landscape with mountains and a lake"},
    )
    seed: int | None = f.seed(
        "Optional seed for reproducibility. If not provided, a random seed will be used."
    )
    aspect_ratio: str = Field(
        "16:9",
        title="Aspect Ratio",
        description="Aspect ratio of the image between 21:9 and 9:21",
    )
    safety_tolerance: int = f.safety_tolerance()
    output_format: OutputFormat | None = f.output_format()
    image_prompt: str | None = f.optional_text(
        "Image Prompt", "Optional image to remix in base64 format"
    )
    image_prompt_strength: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        title="Image Prompt Strength",
        description="Blend between the prompt and the image prompt",
    )
    prompt_upsampling: bool = f.prompt_upsampling(UPSAMPLE_LONG)
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()

    @field_validator("aspect_ratio")
    @classmethod
    def _aspect_in_range(cls, value: str) -> str:
        parse_aspect_ratio(value)
        return value


def parse_aspect_ratio(value: str) -> tuple[int, int]:
    """`"W:H"` as two positive ints with 9/21 <= W/H <= 21/9; ValueError naming the value."""
    match = ASPECT_RE.match(value)
    if not match:
        raise ValueError(f"aspect_ratio must look like '16:9', got {value!r}")
    w, h = int(match.group(1)), int(match.group(2))
    if w == 0 or h == 0:
        raise ValueError(f"aspect_ratio sides must be positive, got {value!r}")
    if w * 21 < h * 9 or w * 9 > h * 21:
        raise ValueError(f"aspect_ratio must be between 21:9 and 9:21, got {value!r}")
    return w, h


class FinetuneFluxProFillInputs(GenerationInputs):
    finetune_id: str = f.finetune_id()
    finetune_strength: float = f.finetune_strength(1.1)
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
    prompt: str = Field(
        "",
        title="Prompt",
        description="The description of the changes you want to make. This text guides the "
        "inpainting process, allowing you to specify features, styles, or modifications for the "
        "masked area.",
        json_schema_extra={"example": "ein fantastisches bild"},
    )
    steps: int = Field(
        50, ge=15, le=50, title="Steps", description=STEPS_DESC, json_schema_extra={"example": 50}
    )
    prompt_upsampling: bool = f.prompt_upsampling(UPSAMPLE_LONG)
    seed: int | None = f.seed("Optional seed for reproducibility", example=None)
    guidance: float = Field(60, ge=1.5, le=100.0, title="Guidance", description=GUIDANCE_DESC)
    output_format: OutputFormat | None = f.output_format()
    safety_tolerance: int = f.safety_tolerance()
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()


class _ControlInputs(GenerationInputs):
    """Canny and depth share every field but canny's thresholds and guidance's default."""

    finetune_id: str = f.finetune_id()
    finetune_strength: float = f.finetune_strength(1.1)
    prompt: str = Field(
        title="Prompt",
        description="Text prompt for image generation",
        json_schema_extra={"example": "ein fantastisches bild"},
    )
    control_image: str = Field(title="Control Image", description=CONTROL_DESC)
    prompt_upsampling: bool = f.prompt_upsampling(UPSAMPLE_SHORT)
    seed: int | None = f.seed("Optional seed for reproducibility")
    steps: int = Field(50, ge=15, le=50, title="Steps", description=STEPS_DESC)
    output_format: OutputFormat | None = f.output_format()
    safety_tolerance: int = f.safety_tolerance(example=False)
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()


class FinetuneCannyInputs(_ControlInputs):
    canny_low_threshold: Threshold | None = Field(
        50, title="Canny Low Threshold", description="Low threshold for Canny edge detection"
    )
    canny_high_threshold: Threshold | None = Field(
        200, title="Canny High Threshold", description="High threshold for Canny edge detection"
    )
    guidance: float = Field(30, ge=1.0, le=100.0, title="Guidance", description=GUIDANCE_DESC)


class FinetuneDepthInputs(_ControlInputs):
    guidance: float = Field(15, ge=1.0, le=100.0, title="Guidance", description=GUIDANCE_DESC)
