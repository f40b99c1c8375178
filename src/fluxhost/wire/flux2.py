"""Request bodies of the FLUX.2 endpoints, as `flux2-api.openapi.json` has them, plus the two
fields the provider added later (contract/FLUX2-API-SOURCES.md): `user` on all three and
`disable_pup` on `Flux2Inputs` (pro, pro-preview and max share that schema).

Unknown fields are ignored, as on the provider (its schemas set no additionalProperties): the
popular JS SDK sends aspect_ratio, steps, guidance, raw and input_image_9/_10 to every model,
and such a body is accepted with those fields dropped (a reference past a model's last image
field is such a field). Booleans and numbers are strict (wire/strict.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Field, HttpUrl, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from fluxhost.wire import bounds
from fluxhost.wire import fields as f
from fluxhost.wire.base_inputs import GUIDANCE_LONG, PROMPT_DESC, PROMPT_EXAMPLE, SEED_DESC
from fluxhost.wire.enums import OutputFormat
from fluxhost.wire.strict import StrictScalars

TOLERANCE_DESC = (
    "Tolerance level for input and output moderation. Between 0 and 5, 0 being most strict, 5 "
    "being least strict. If you wish to increase the safety_tolerance beyond these levels please "
    "reach out to the team."
)
ORDINALS = ("", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
# The reference image fields in order: input_image, input_image_2, ... input_image_8.
IMAGE_FIELDS = tuple("input_image" + ("" if n == 1 else f"_{n}") for n in range(1, 9))
KLEIN_IMAGE_FIELDS = IMAGE_FIELDS[:4]
MIN_SIDE = 64
# What the FLUX.2 pipelines take as a reference image (diffusers' Flux2ImageProcessor refuses
# the rest): both sides at least 64 px, an aspect ratio up to 8:1. Checked at submit.
REFERENCE_MIN_SIDE = 64
REFERENCE_MAX_ASPECT = 8
USER_DESC = ("An identifier of your end user (1-256 characters), for abuse monitoring; stored "
             "with the task.")
DISABLE_PUP_DESC = ("Turn off the prompt upsampling this model applies by default "
                    "(\"pup\"): the prompt is used as written.")
BLOB_PATH_REFUSED = ("blob paths of the provider's own storage are not served here; send the "
                     "image base64-encoded in input_image")

# width/height: the schema's `integer >= 64 | null`, default 0. The default (0) and null both
# mean "the model picks"; an explicit 0 is taken as the default too (a client that sends its
# model's defaults sends 0), anything else must be >= 64, checked in `_side`.
Side = Annotated[int, WithJsonSchema({"type": "integer", "minimum": MIN_SIDE})]


def _image(n: int) -> Any:
    title = "Input Image" + ("" if n == 1 else f" {n}")
    ordinal = f"{ORDINALS[n - 1]} " if n > 1 else ""
    return f.optional_text(title, f"Path to the {ordinal}input image.")


def _size(title: str) -> Any:
    return Field(0, title=title, description=f"{title} of the image")


class Flux2BaseInputs(StrictScalars):
    """Checks every FLUX.2 request shares. Its fields are declared by each subclass, in the
    contract's order (a field declared here would come first in every schema); those `submit`
    (api/routers/generate.py) reads are typed here for the checker only."""

    model_config = ConfigDict(extra="ignore")

    if TYPE_CHECKING:
        prompt: str
        seed: int | None
        width: int | None
        height: int | None
        safety_tolerance: int
        output_format: OutputFormat | None
        webhook_url: HttpUrl | None
        webhook_secret: str | None
        user: str | None

    def params(self) -> dict[str, Any]:
        """What the worker needs, JSON-ready (webhook settings live on the task row): a null
        where the contract has a non-null default is stored as that default, and
        `prompt_upsampling` as what this endpoint does (`upsampling`)."""
        params = self.model_dump(mode="json", exclude={"webhook_url", "webhook_secret"})
        for name, info in type(self).model_fields.items():
            if params.get(name, 0) is None and info.default is not None:
                default = info.default
                params[name] = default.value if isinstance(default, OutputFormat) else default
        params["prompt_upsampling"] = self.upsampling()
        return params

    def upsampling(self) -> bool:
        """Whether the prompt is upsampled: klein never (no such field; the provider's klein
        models do not upsample)."""
        return False

    @field_validator("prompt", "user", check_fields=False)
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        return None if value is None else bounds.text(value)

    @field_validator("seed", check_fields=False)
    @classmethod
    def _seed_in_range(cls, value: int | None) -> int | None:
        return bounds.seed(value)

    @field_validator("width", "height", check_fields=False)
    @classmethod
    def _side(cls, value: int | None) -> int | None:
        if value is None or value == 0 or value >= MIN_SIDE:
            return value
        raise PydanticCustomError("greater_than_equal",
                                  "Input should be greater than or equal to {ge}",
                                  {"ge": MIN_SIDE})


def _prompt() -> Any:
    return Field(title="Prompt", description=PROMPT_DESC,
                 json_schema_extra={"example": PROMPT_EXAMPLE})


def _tolerance() -> Any:
    return Field(2, ge=0, le=5, title="Safety Tolerance", description=TOLERANCE_DESC)


def _user() -> Any:
    return Field(None, min_length=1, max_length=256, title="User", description=USER_DESC,
                 json_schema_extra=f._extra())


# /v1/flux-2-pro, /v1/flux-2-pro-preview and /v1/flux-2-max. (Comments, not docstrings: a
# docstring would become the schema's description, which the contract's has none of.)
class Flux2Inputs(Flux2BaseInputs):
    prompt: str = _prompt()
    input_image: str | None = _image(1)
    input_image_2: str | None = _image(2)
    input_image_3: str | None = _image(3)
    input_image_4: str | None = _image(4)
    input_image_5: str | None = _image(5)
    input_image_6: str | None = _image(6)
    input_image_7: str | None = _image(7)
    input_image_8: str | None = _image(8)
    seed: int | None = f.seed(SEED_DESC)
    width: Side | None = _size("Width")
    height: Side | None = _size("Height")
    safety_tolerance: int = _tolerance()
    output_format: OutputFormat | None = Field(OutputFormat.jpeg)
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()
    user: str | None = _user()
    disable_pup: bool = Field(False, title="Disable Pup", description=DISABLE_PUP_DESC)

    def upsampling(self) -> bool:
        # pro and max upsample prompts by default; pro-preview, sharing the schema, too.
        return not self.disable_pup


# /v1/flux-2-flex: steps and guidance of its own, prompt upsampling on by default.
class Flux2FlexInputs(Flux2BaseInputs):
    prompt: str = _prompt()
    prompt_upsampling: bool | None = Field(True, title="Prompt Upsampling",
                                           description="Whether to use prompt upsampling.")
    input_image: str | None = _image(1)
    input_image_2: str | None = _image(2)
    input_image_3: str | None = _image(3)
    input_image_4: str | None = _image(4)
    input_image_5: str | None = _image(5)
    input_image_6: str | None = _image(6)
    input_image_7: str | None = _image(7)
    input_image_8: str | None = _image(8)
    input_image_blob_path: str | None = f.optional_text("Input Image Blob Path",
                                                        "Blob path to the input image.")
    seed: int | None = f.seed(SEED_DESC)
    width: Side | None = _size("Width")
    height: Side | None = _size("Height")
    guidance: float | None = Field(5.0, ge=1.5, le=10, title="Guidance",
                                   description=GUIDANCE_LONG, json_schema_extra={"example": 5.0})
    steps: int | None = Field(
        50, ge=1, le=50, title="Steps", description="Number of steps for image generation. "
        "Higher steps lead to more detailed and realistic images.",
        json_schema_extra={"example": 50})
    safety_tolerance: int = _tolerance()
    output_format: OutputFormat | None = Field(OutputFormat.jpeg)
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()
    user: str | None = _user()

    def upsampling(self) -> bool:
        return self.prompt_upsampling is not False  # null: the default, on

    @field_validator("input_image_blob_path")
    @classmethod
    def _no_blob_paths(cls, value: str | None) -> str | None:
        if value is not None:  # a path into the provider's storage: nothing here to read
            raise ValueError(BLOB_PATH_REFUSED)
        return value


class Flux2KleinInputs(Flux2BaseInputs):
    """Input model for FLUX.2 Klein (non-base) - like Pro but max 4 images."""

    prompt: str = _prompt()
    input_image: str | None = _image(1)
    input_image_2: str | None = _image(2)
    input_image_3: str | None = _image(3)
    input_image_4: str | None = _image(4)
    seed: int | None = f.seed(SEED_DESC)
    width: Side | None = _size("Width")
    height: Side | None = _size("Height")
    safety_tolerance: int = _tolerance()
    output_format: OutputFormat | None = Field(OutputFormat.jpeg)
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()
    user: str | None = _user()


FLUX2_MODELS: tuple[type[Flux2BaseInputs], ...] = (Flux2Inputs, Flux2FlexInputs,
                                                   Flux2KleinInputs)
