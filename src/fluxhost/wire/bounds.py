"""Bounds on request strings and numbers that the contract leaves open but storage does not.

PostgreSQL refuses NUL in text and anything over a VARCHAR's length, and the engine's random
generator refuses seeds outside 64 bits; SQLite accepts all of these, so without a check here
the same request would be a 200 on one backend and a 500 on the other. These run as pydantic
validators (not Field constraints), so the JSON schema stays the provider's, and they fail in
the shape pydantic itself uses for the same bounds."""

from __future__ import annotations

from pydantic_core import PydanticCustomError

# finetunes.trigger_word is String(200).
MAX_TRIGGER_WORD_CHARS = 200
# finetunes.comment is Text; the bound keeps a "name or comment" a name or a comment (it is
# echoed in every finetune_details answer) rather than a way to park megabytes in the DB.
MAX_COMMENT_CHARS = 1000
# torch.Generator.manual_seed takes a signed or unsigned 64-bit value; anything else would be
# accepted here and fail in the worker.
SEED_MIN = -(2**63)
SEED_MAX = 2**64 - 1


def text(value: str, max_chars: int | None = None) -> str:
    """`value` unless it holds NUL or is over `max_chars` (the errors pydantic would raise)."""
    if max_chars is not None and len(value) > max_chars:
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters",
            {"max_length": max_chars},
        )
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


def seed(value: int | None) -> int | None:
    if value is None:
        return None
    if value < SEED_MIN:
        raise PydanticCustomError(
            "greater_than_equal", "Input should be greater than or equal to {ge}", {"ge": SEED_MIN}
        )
    if value > SEED_MAX:
        raise PydanticCustomError(
            "less_than_equal", "Input should be less than or equal to {le}", {"le": SEED_MAX}
        )
    return value
