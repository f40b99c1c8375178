"""Output sizes: from an aspect ratio at a megapixel figure (ultra, Kontext), or fitted from an
input image's size (fill, expand, canny, depth). Pure arithmetic, shared by the worker, which
renders at these sizes, and the API, which reports them at submit (`output_mp`)."""

from __future__ import annotations

import math

from fluxhost.wire import parse_aspect_ratio

# The API's own width/height bounds (FluxProFinetuneInputs), applied to image-driven endpoints.
MIN_SIDE, MAX_SIDE = 256, 1440
# FLUX packs 2x2 latents after the VAE's 8x downsampling.
MULTIPLE = 16
ULTRA_MULTIPLE = 32
# Kontext's own bounds: aspect ratios between 21:9 and 9:21, sides multiples of 16.
KONTEXT_MULTIPLE = 16


def ultra_size(aspect_ratio: str, megapixels: float,
               multiple: int = ULTRA_MULTIPLE) -> tuple[int, int]:
    """Width and height near `megapixels` at this aspect ratio, each a multiple of `multiple`."""
    w, h = parse_aspect_ratio(aspect_ratio)
    return area_size(w, h, megapixels, multiple)


def area_size(
    aspect_w: float, aspect_h: float, megapixels: float, multiple: int
) -> tuple[int, int]:
    """Width and height near `megapixels` at aspect `aspect_w`:`aspect_h`, each a multiple of
    `multiple` (at least `multiple`)."""
    pixels = megapixels * 1_000_000
    width = math.sqrt(pixels * aspect_w / aspect_h)
    height = width * aspect_h / aspect_w
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )


def kontext_image_size(width: int, height: int, megapixels: float) -> tuple[int, int]:
    """Kontext's output size for an input image of this size: its aspect, clamped to
    21:9..9:21, at `megapixels`, sides multiples of 16."""
    aspect = min(max(width / height, 9 / 21), 21 / 9)
    return area_size(aspect, 1.0, megapixels, KONTEXT_MULTIPLE)


def fit_size(width: int, height: int) -> tuple[int, int]:
    """Output size for an input of this size: scaled (aspect kept) into the API's 256..1440
    bounds, then each side rounded to the nearest multiple of 16."""
    scale = min(1.0, MAX_SIDE / max(width, height))
    scale = max(scale, MIN_SIDE / min(width, height))
    w, h = width * scale, height * scale

    def snap(v: float) -> int:
        return int(min(MAX_SIDE, max(MIN_SIDE, MULTIPLE * math.floor(v / MULTIPLE + 0.5))))

    return snap(w), snap(h)


# FLUX.2 (the provider's rules): output at most 4 megapixels (2048 x 2048), sides multiples of
# 16, at least 64 (the schema's minimum); a side left 0 or null is the model's own choice.
FLUX2_MAX_PIXELS = 2048 * 2048
FLUX2_MULTIPLE = 16
FLUX2_MIN_SIDE = 64
FLUX2_DEFAULT_SIDE = 1024
# No side of a capped output exceeds this (the other is then the minimum); larger requested
# sides are brought down to it first, so arithmetic on absurd values stays exact and finite.
_FLUX2_SIDE_LIMIT = FLUX2_MAX_PIXELS // FLUX2_MIN_SIDE


def flux2_size(width: int, height: int,
               reference: tuple[int, int] | None) -> tuple[int, int]:
    """FLUX.2's output size for a request's `width` x `height` (0: the model picks) and the
    size of its first reference image, if any. A side left 0 follows the reference (its aspect
    kept when the other side is given), else is 1024. Over 4 megapixels the size is scaled
    down to 4 keeping the aspect; each side is then snapped to a multiple of 16 (the nearest,
    or the one below where the nearest would pass the cap), at least 64."""
    w, h = _flux2_requested(width, height, reference)
    w, h = min(w, _FLUX2_SIDE_LIMIT), min(h, _FLUX2_SIDE_LIMIT)
    scale = min(1.0, math.sqrt(FLUX2_MAX_PIXELS / (w * h)))
    size = _snap16(w * scale), _snap16(h * scale)
    if size[0] * size[1] > FLUX2_MAX_PIXELS:
        size = _snap16(w * scale, down=True), _snap16(h * scale, down=True)
    return size


def _flux2_requested(width: int, height: int,
                     reference: tuple[int, int] | None) -> tuple[int, int]:
    if width and height:
        return width, height
    if reference is None:
        return width or FLUX2_DEFAULT_SIDE, height or FLUX2_DEFAULT_SIDE
    ref_w, ref_h = max(1, reference[0]), max(1, reference[1])
    if width:
        return width, max(1, round(width * ref_h / ref_w))
    if height:
        return max(1, round(height * ref_w / ref_h)), height
    return ref_w, ref_h


def _snap16(value: float, *, down: bool = False) -> int:
    steps = math.floor(value / FLUX2_MULTIPLE) if down else math.floor(value / FLUX2_MULTIPLE
                                                                      + 0.5)
    return max(FLUX2_MIN_SIDE, steps * FLUX2_MULTIPLE)
