"""Outpainting (the API's flux-pro-1.0-expand) as inpainting on a padded canvas. Pure PIL.

The image is pasted at (left, top) on a black canvas `left + width + right` x
`top + height + bottom`; the mask is white (repaint) on the new border and black (keep) over the
image. The fill pipeline generates at a size fitted to the API's bounds; its result is scaled
back to the canvas and the original image pasted over it, so every original pixel is in the
output exactly, whatever the generation size or the VAE round trip did.
"""

from __future__ import annotations

from PIL import Image

MAX_PADDING = 2048  # the API's bound on each side


def check_padding(top: int, bottom: int, left: int, right: int) -> None:
    for name, value in (("top", top), ("bottom", bottom), ("left", left), ("right", right)):
        if not 0 <= value <= MAX_PADDING:
            raise ValueError(f"{name} must be between 0 and {MAX_PADDING}, got {value}")


def expand_canvas(
    image: Image.Image, top: int, bottom: int, left: int, right: int
) -> tuple[Image.Image, Image.Image]:
    """The padded RGB canvas and its "L" mask (255 = the new border, to generate)."""
    check_padding(top, bottom, left, right)
    rgb = image.convert("RGB")
    size = (left + rgb.width + right, top + rgb.height + bottom)
    canvas = Image.new("RGB", size)
    canvas.paste(rgb, (left, top))
    mask = Image.new("L", size, 255)
    mask.paste(0, (left, top, left + rgb.width, top + rgb.height))
    return canvas, mask


def keep_original(
    generated: Image.Image, image: Image.Image, canvas_size: tuple[int, int], left: int, top: int
) -> Image.Image:
    """`generated` at the canvas size with `image` pasted back unchanged at (left, top)."""
    out = generated.convert("RGB")
    if out.size != canvas_size:
        out = out.resize(canvas_size, Image.Resampling.LANCZOS)
    else:
        out = out.copy()
    out.paste(image.convert("RGB"), (left, top))
    return out
