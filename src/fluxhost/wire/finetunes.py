"""Finetune management shapes, as `finetune-api.openapi.json` has them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, HttpUrl, ValidationInfo, field_validator

from fluxhost.wire import bounds
from fluxhost.wire import fields as f
from fluxhost.wire.strict import StrictScalars

LearningRate = Annotated[float, Field(ge=1e-6, le=0.005)]
# The klein kinds a LoRA may be trained on (fluxhost.kinds.KLEIN_TRAINING_KINDS' keys).
KleinBase = Literal["klein-4b", "klein-9b"]


def _object(schema: dict[str, Any]) -> None:
    # The provider renders `dict` as a bare object; pydantic adds additionalProperties.
    schema.pop("additionalProperties", None)


class FinetuneInputs(StrictScalars):
    file_data: str = Field(
        title="File Data",
        description="Base64-encoded ZIP file containing training images and, optionally, "
        "corresponding captions.",
    )
    finetune_comment: str = Field(
        title="Finetune Comment",
        description="Comment or name of the fine-tuned model. This will be added as a field to "
        "the finetune_details.",
        json_schema_extra={"example": "my-first-finetune"},
    )
    trigger_word: str = Field(
        "TOK",
        title="Trigger Word",
        description="Trigger word for the fine-tuned model.",
        json_schema_extra={"example": "TOK"},
    )
    mode: Literal["general", "character", "style", "product"] = Field(
        title="Mode",
        description="Mode for the fine-tuned model. Allowed values are 'general', 'character', "
        "'style', 'product'. This will affect the caption behaviour. General will describe the "
        "image in full detail.",
    )
    iterations: int = Field(
        300,
        ge=100,
        le=1000,
        title="Iterations",
        description="Number of iterations for fine-tuning.",
    )
    learning_rate: LearningRate | None = f.optional_text(
        "Learning Rate",
        "Learning rate for fine-tuning. If not provided, defaults to 1e-5 for full fine-tuning "
        "and 1e-4 for lora fine-tuning.",
    )
    captioning: bool = Field(
        True, title="Captioning", description="Whether to enable captioning during fine-tuning."
    )
    priority: Literal["speed", "quality", "high_res_only"] = Field(
        "quality",
        title="Priority",
        description="Priority of the fine-tuning process. 'speed' will prioritize iteration "
        "speed over quality, 'quality' will prioritize quality over speed.",
    )
    finetune_type: Literal["lora", "full"] = Field(
        "full",
        title="Finetune Type",
        description="Type of fine-tuning. 'lora' is a standard LoRA Adapter, 'full' is a full "
        "fine-tuning mode, with a post hoc lora extraction.",
    )
    lora_rank: Literal[16, 32] = Field(
        32,
        title="Lora Rank",
        description="Rank of the fine-tuned model. 16 or 32. If finetune_type is 'full', this "
        "will be the rank of the extracted lora model.",
    )
    webhook_url: HttpUrl | None = f.webhook_url()
    webhook_secret: str | None = f.webhook_secret()
    # fluxhost's extension (not in the provider's schema; tests/wire/test_contract.py lists it
    # as the one addition): train on a FLUX.2 [klein] model instead of FLUX.1.
    base_model: KleinBase | None = Field(
        None,
        title="Base Model",
        description="fluxhost extension: train the LoRA on this FLUX.2 [klein] model instead "
        "of FLUX.1 ('klein-4b' or 'klein-9b', when the server has it); the finetune is then "
        "served by /v1/flux-2-klein-4b-finetuned or /v1/flux-2-klein-9b-finetuned. Omitted or "
        "null: FLUX.1, as the provider trains.",
    )

    @field_validator("finetune_comment", "trigger_word")
    @classmethod
    def _storable_text(cls, value: str, info: ValidationInfo) -> str:
        return bounds.text(value, _TEXT_BOUNDS[str(info.field_name)])


_TEXT_BOUNDS = {
    "finetune_comment": bounds.MAX_COMMENT_CHARS,
    "trigger_word": bounds.MAX_TRIGGER_WORD_CHARS,
}


class DeleteFinetuneInputs(StrictScalars):
    finetune_id: str = Field(
        title="Finetune Id",
        description="ID of the fine-tuned model you want to delete.",
        json_schema_extra={"example": "my-finetune"},
    )

    @field_validator("finetune_id")
    @classmethod
    def _storable_text(cls, value: str) -> str:
        return bounds.text(value)


class DeleteFinetuneResponse(BaseModel):
    status: str = Field(title="Status", description="Status of the deletion")
    message: str = Field(title="Message", description="Message about the deletion")
    deleted_finetune_id: str = Field(
        title="Deleted Finetune Id", description="ID of the deleted finetune"
    )
    timestamp: str = Field(title="Timestamp", description="Timestamp of the deletion")


class FinetuneDetailResponse(BaseModel):
    finetune_details: dict[str, Any] = Field(
        title="Finetune Details",
        description="Details about the parameters used for finetuning",
        json_schema_extra=_object,
    )


class MyFinetunesResponse(BaseModel):
    finetunes: list[Any] = Field(
        title="Finetunes", description="List of finetunes created by the user"
    )


class FinetuneCreated(BaseModel):
    """The answer to POST /v1/finetune (the provider documents no schema for it)."""

    finetune_id: str
