"""FLUX.2 [klein] with a LoRA: the `-finetuned` request bodies and fluxhost's own upload route's
shapes (issue 19; contract/FLUX2-API-SOURCES.md, "LoRA serving on FLUX.2 [klein]").

The provider's request is "the base endpoint's schema plus `finetune_id` and
`finetune_strength`"; its copy gives no range or default for the strength, so fluxhost takes
FLUX.1's finetuned range, 0..2, at default 1.0 (the LoRA as trained; 0 is the base model
exactly). The upload route is an extension of fluxhost's own: the provider's upload lives in
its dashboard."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

from fluxhost.wire import bounds
from fluxhost.wire.flux2 import Flux2KleinInputs

STRENGTH_DEFAULT = 1.0
STRENGTH_MAX = 2.0
# A finetune_id is an uploaded LoRA's name (<= 64) or a finetune's uuid (36).
FINETUNE_ID_MAX_CHARS = 64
# The provider's rule for a LoRA's name: lowercase letters, digits, '-' and '_'.
NAME_RE = re.compile(r"[a-z0-9_-]{1,64}")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The klein bases a LoRA can be uploaded for, each served by one -finetuned endpoint.
KLEIN_BASES: dict[str, str] = {"klein-4b": "flux-2-klein-4b-finetuned",
                               "klein-9b": "flux-2-klein-9b-finetuned"}
STRENGTH_DESC = (
    "Strength of the LoRA: 0.0 is the base model exactly, 1.0 the LoRA as trained. Allowed "
    "values up to 2.0"
)


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a LoRA, or None. A uuid-shaped name is refused: finetune_id
    resolves a key's uuids too, and one string must not mean two finetunes."""
    if NAME_RE.fullmatch(name) is None:
        return (f"name {name!r} must be 1-64 characters of lowercase letters, digits, '-' "
                "and '_'")
    if UUID_RE.fullmatch(name):
        return f"name {name!r} has the shape of a finetune id; choose another"
    return None


class Flux2KleinFinetunedInputs(Flux2KleinInputs):
    """FLUX.2 [klein] with a LoRA uploaded for its base: the klein schema plus finetune_id and
    finetune_strength."""

    finetune_id: str = Field(
        title="Finetune Id", max_length=FINETUNE_ID_MAX_CHARS,
        description="The name the LoRA was uploaded under (or its finetune id).",
        json_schema_extra={"example": "my-style"})
    finetune_strength: float = Field(STRENGTH_DEFAULT, ge=0.0, le=STRENGTH_MAX,
                                     title="Finetune Strength", description=STRENGTH_DESC)

    @field_validator("finetune_id")
    @classmethod
    def _storable_id(cls, value: str) -> str:
        return bounds.text(value)


class FinetuneUploaded(BaseModel):
    """The answer to POST /v1/fluxhost/finetunes/upload."""

    finetune_id: str = Field(description="The name: what a -finetuned request sends.")
    id: str = Field(description="The finetune's uuid (also accepted as finetune_id).")
    base_model: str
    endpoint: str = Field(description="The endpoint that serves it, e.g. "
                          "/v1/flux-2-klein-4b-finetuned.")
    trigger_word: str | None
    layout: str = Field(description="The key layout the file came in: diffusers, peft, "
                        "ai-toolkit or kohya (stored converted to diffusers').")
    rank: int
    modules: int = Field(description="How many transformer layers it adapts.")
    bytes: int
