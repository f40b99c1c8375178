"""Field builders shared by the input models, so each spec'd field is written once.

The JSON schema they render must equal `finetune-api.openapi.json` (tests/wire compares them),
so a few fields carry tweaks: the provider's schema omits `default: null` and shows `seed` on
`FluxProFinetuneInputs` as a bare integer, while we still accept an explicit null."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from fluxhost.wire.enums import OutputFormat


def _drop_null_default(schema: dict[str, Any]) -> None:
    if schema.get("default", ...) is None:
        del schema["default"]


def _extra(example: Any = None) -> Any:
    def apply(schema: dict[str, Any]) -> None:
        _drop_null_default(schema)
        if example is not None:
            schema["example"] = example

    return apply


STRENGTH_DESC = (
    "Strength of the fine-tuned model. 0.0 means no influence, 1.0 means full influence. "
    "Allowed values up to 2.0"
)
TOLERANCE_DESC = (
    "Tolerance level for input and output moderation. Between 0 and 6, 0 being most strict, "
    "6 being least strict."
)
FORMAT_DESC = "Output format for the generated image. Can be 'jpeg' or 'png'."

# A bare `{"type": "integer"}` in the schema, as the provider documents it, that still accepts
# null on the wire (clients send `"seed": null`).
LooseSeed = Annotated[int | None, WithJsonSchema({"type": "integer"})]


def finetune_id() -> Any:
    return Field(
        title="Finetune Id",
        description="ID of the fine-tuned model you want to use.",
        json_schema_extra={"example": "my-finetune"},
    )


def finetune_strength(default: float) -> Any:
    return Field(default, ge=0.0, le=2.0, title="Finetune Strength", description=STRENGTH_DESC)


def safety_tolerance(example: bool = True) -> Any:
    return Field(
        2,
        ge=0,
        le=6,
        title="Safety Tolerance",
        description=TOLERANCE_DESC,
        json_schema_extra={"example": 2} if example else None,
    )


def seed(description: str, example: int | None = 42) -> Any:
    return Field(None, title="Seed", description=description, json_schema_extra=_extra(example))


def output_format() -> Any:
    return Field(OutputFormat.jpeg, description=FORMAT_DESC)


def prompt_upsampling(description: str) -> Any:
    return Field(False, title="Prompt Upsampling", description=description)


def optional_text(title: str, description: str) -> Any:
    return Field(None, title=title, description=description, json_schema_extra=_extra())


def webhook_url() -> Any:
    return Field(
        None,
        title="Webhook Url",
        description="URL to receive webhook notifications",
        json_schema_extra=_extra(),
    )


def webhook_secret() -> Any:
    return Field(
        None,
        title="Webhook Secret",
        description="Optional secret for webhook signature verification",
        json_schema_extra=_extra(),
    )
