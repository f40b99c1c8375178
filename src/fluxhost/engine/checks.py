"""Checks every request passes before any pipeline runs, and the image fitting families share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fluxhost.engine.types import Request

if TYPE_CHECKING:
    from PIL import Image

# Latents are packed 2x2 after the VAE's 8x downsampling.
SIZE_MULTIPLE = 16


def check_request(req: Request) -> None:
    check_size(req.width, req.height)
    if req.steps < 1:
        raise ValueError(f"steps must be at least 1, got {req.steps}")


def check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        # The pipeline would silently round a bad size down; refuse instead.
        if value < SIZE_MULTIPLE or value % SIZE_MULTIPLE:
            raise ValueError(f"{name} must be a positive multiple of {SIZE_MULTIPLE}, got {value}")


def fit(image: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
    """`image` resized to `size` unless it has that size already."""
    return image if image.size == size else image.resize(size, resample)
