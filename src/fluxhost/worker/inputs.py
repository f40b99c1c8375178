"""Input images, from the blob store to what the engine takes: EXIF orientation applied, RGB
(alpha kept only where fill derives its mask from it), masks binarized, sizes fitted.

Everything here raises `InputError` with a message for the task's `details.error`; the bytes
were already bounded and identified at submit (api/validation.py)."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageOps

# The API's own width/height bounds (FluxProFinetuneInputs), applied to image-driven endpoints.
MIN_SIDE, MAX_SIDE = 256, 1440
# FLUX packs 2x2 latents after the VAE's 8x downsampling.
MULTIPLE = 16
# Grey mask values at or above this repaint (white), below it keep (black).
MASK_THRESHOLD = 128


class InputError(ValueError):
    pass


def open_image(data: bytes, name: str) -> Image.Image:
    """Decode fully (so corruption shows here, not mid-generation) and apply EXIF rotation."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{name}: not a decodable image ({exc})") from exc


def has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info


def fill_mask(image: Image.Image, mask: Image.Image | None) -> Image.Image:
    """The repaint mask ("L", 255 = repaint): from `mask` (white = repaint; grey thresholded at
    50%), else from the image's alpha (transparent = repaint)."""
    if mask is not None:
        if mask.size != image.size:
            raise InputError(
                f"mask is {mask.width}x{mask.height} but image is {image.width}x{image.height}; "
                "they must match"
            )
        grey = mask.convert("L")
    elif has_alpha(image):
        alpha = image.convert("RGBA").getchannel("A")
        grey = ImageOps.invert(alpha)  # transparent (0) -> repaint (255)
    else:
        raise InputError("no mask given and the image has no alpha channel to take one from")
    binary = grey.point(lambda v: 255 if v >= MASK_THRESHOLD else 0)
    if binary.getbbox() is None:
        raise InputError("the mask is blank: it marks nothing to repaint")
    return binary


def fit_size(width: int, height: int) -> tuple[int, int]:
    """Output size for an input of this size: scaled (aspect kept) into the API's 256..1440
    bounds, then each side rounded to the nearest multiple of 16."""
    scale = min(1.0, MAX_SIDE / max(width, height))
    scale = max(scale, MIN_SIDE / min(width, height))
    w, h = width * scale, height * scale

    def snap(v: float) -> int:
        return int(min(MAX_SIDE, max(MIN_SIDE, MULTIPLE * math.floor(v / MULTIPLE + 0.5))))

    return snap(w), snap(h)


def resized(img: Image.Image, size: tuple[int, int], *, mask: bool = False) -> Image.Image:
    if img.size == size:
        return img
    return img.resize(size, Image.Resampling.NEAREST if mask else Image.Resampling.LANCZOS)
