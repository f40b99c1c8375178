"""Checks that need settings or decoding, reported in the same pydantic-v2 422 shape that
FastAPI uses for schema errors, so clients see one error format."""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Any

from fastapi.exceptions import RequestValidationError
from PIL import Image, UnidentifiedImageError

ALLOWED_IMAGE_FORMATS = {"PNG", "JPEG", "WEBP"}
MAX_SECRET_CHARS = 1024
# Every task and finetune id is minted as str(uuid.uuid4()); anything else cannot exist.
_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NAME_RE = re.compile(r"[a-z0-9_-]{1,64}")  # wire.flux2_finetuned.NAME_RE


def field_error(
    field: str, msg: str, type_: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    err: dict[str, Any] = {"type": type_, "loc": ["body", field], "msg": msg, "input": value}
    if ctx is not None:
        err["ctx"] = ctx
    return err


def raise_errors(errors: list[dict[str, Any]]) -> None:
    if errors:
        raise RequestValidationError(errors)


def plausible_id(value: str) -> bool:
    """Whether a task or finetune with this id could exist. Ids that cannot (too long, NUL,
    any other shape) are answered as not found without a query: PostgreSQL would refuse some
    of them as parameters (NUL) and the lookup could only miss anyway."""
    return _ID_RE.fullmatch(value) is not None


def plausible_finetune_ref(value: str) -> bool:
    """Whether a finetune_id could name a finetune: its uuid, or an uploaded LoRA's per-key
    name (lowercase letters, digits, '-' and '_', up to 64)."""
    return plausible_id(value) or _NAME_RE.fullmatch(value) is not None


def check_webhook_secret(secret: str | None) -> list[dict[str, Any]]:
    # The secret travels as a header (X-Webhook-Secret): it must be sendable as one, which
    # also keeps NUL and CR/LF out of the Text column it is stored in.
    if secret is None or (len(secret) <= MAX_SECRET_CHARS and secret.isascii()
                          and secret.isprintable()):
        return []
    return [field_error("webhook_secret", f"Value error, webhook_secret must be printable ASCII "
                        f"of at most {MAX_SECRET_CHARS} characters", "value_error", None)]


def check_prompt(field: str, prompt: str | None, max_chars: int) -> list[dict[str, Any]]:
    if prompt is not None and len(prompt) > max_chars:
        return [
            field_error(
                field,
                f"String should have at most {max_chars} characters",
                "string_too_long",
                prompt[:100] + "...",
                {"max_length": max_chars},
            )
        ]
    return []


def decode_image(
    field: str, value: str, max_pixels: int
) -> tuple[bytes, Image.Image | None, dict[str, Any] | None]:
    """(raw bytes, opened image, None) or (b"", None, error) for a base64 (or data-URL) image."""
    short = value[:50] + ("..." if len(value) > 50 else "")
    data = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return b"", None, field_error(field, "Value error, invalid base64 data", "value_error",
                                      short)
    return open_image(field, raw, max_pixels, short)


def open_image(
    field: str, raw: bytes, max_pixels: int, shown: str,
    not_an_image: str = "Value error, not a decodable image (png, jpeg or webp)",
) -> tuple[bytes, Image.Image | None, dict[str, Any] | None]:
    """(raw, opened image, None) or (b"", None, error): `raw` opened from its header (format
    and size; no pixels decoded yet). `shown` is the field's value as an error echoes it."""
    try:
        img = Image.open(io.BytesIO(raw))
        width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return b"", None, field_error(field, not_an_image, "value_error", shown)
    if img.format not in ALLOWED_IMAGE_FORMATS:
        return b"", None, field_error(
            field, f"Value error, unsupported image format {img.format}", "value_error", shown
        )
    if width * height > max_pixels:
        return b"", None, field_error(
            field,
            f"Value error, image is {width}x{height} = {width * height} pixels, "
            f"more than the limit of {max_pixels}",
            "value_error",
            shown,
        )
    return raw, img, None
