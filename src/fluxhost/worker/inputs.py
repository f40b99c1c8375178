"""Input images, from the blob store to what the engine takes: EXIF orientation applied, RGB
(alpha kept only where fill derives its mask from it), masks binarized, sizes fitted.

Everything here raises `InputError` with a message for the task's `details.error`; the bytes
were already bounded and identified at submit (api/validation.py)."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

# Sizes are planning's (the API reports them at submit too); worker/requests.py fits with it.
from fluxhost.planning.sizes import fit_size

__all__ = ["InputError", "fill_mask", "fit_size", "has_alpha", "open_image", "resized"]

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


def resized(img: Image.Image, size: tuple[int, int], *, mask: bool = False) -> Image.Image:
    if img.size == size:
        return img
    return img.resize(size, Image.Resampling.NEAREST if mask else Image.Resampling.LANCZOS)
