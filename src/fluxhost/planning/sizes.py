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
