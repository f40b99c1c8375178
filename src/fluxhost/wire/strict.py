"""Booleans are booleans and numbers are not booleans, as on the provider: `"prompt_upsampling":
0` and `"image_prompt_strength": false` are 422s, not False and 0.0.

pydantic's lax mode would take both (0 -> False, false -> 0.0). `Strict()` on every field would
go too far (it refuses `"steps": 28.0` and enum strings in Python mode), so this mixin refuses only
the two coercions across a boolean/number border, with pydantic's own error types and messages,
and leaves the JSON schema as it is. Numeric strings stay as lax as FastAPI leaves them."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


def _scalar_kinds(annotation: Any) -> frozenset[type]:
    """The scalar types among an annotation's union members (`bool | None` -> {bool})."""
    if get_origin(annotation) in (Union, types.UnionType):
        return frozenset().union(*(_scalar_kinds(a) for a in get_args(annotation)))
    if get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        return _scalar_kinds(get_args(annotation)[0])  # Annotated[float, ...]
    return frozenset({annotation}) & {bool, int, float}


class StrictScalars(BaseModel):
    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_number_coercion(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or info.field_name is None:
            return value
        kinds = _scalar_kinds(cls.model_fields[info.field_name].annotation)
        if kinds == {bool} and not isinstance(value, bool):
            raise PydanticCustomError("bool_type", "Input should be a valid boolean")
        if isinstance(value, bool) and kinds and bool not in kinds:
            if float in kinds:
                raise PydanticCustomError("float_type", "Input should be a valid number")
            raise PydanticCustomError("int_type", "Input should be a valid integer")
        return value
