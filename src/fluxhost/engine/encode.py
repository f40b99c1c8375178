"""Image -> bytes for delivery. Pillow only, so the API process can use it too."""

from __future__ import annotations

import io
from typing import Final, Literal

from PIL import Image

ImageFormat = Literal["jpeg", "png", "webp"]

CONTENT_TYPES: Final[dict[str, str]] = {
    "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"
}

JPEG_QUALITY = 95
WEBP_QUALITY = 95
_PNG_MODES = frozenset({"RGB", "RGBA", "L", "LA"})
_WEBP_MODES = frozenset({"RGB", "RGBA"})


def encode_image(img: Image.Image, fmt: ImageFormat) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY)
    elif fmt == "png":
        (img if img.mode in _PNG_MODES else img.convert("RGB")).save(buf, format="PNG")
    elif fmt == "webp":
        (img if img.mode in _WEBP_MODES else img.convert("RGB")).save(
            buf, format="WEBP", quality=WEBP_QUALITY
        )
    else:
        raise ValueError(f"unsupported image format {fmt!r}; expected {sorted(CONTENT_TYPES)}")
    return buf.getvalue()
