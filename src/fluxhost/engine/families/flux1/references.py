"""FLUX.1 Kontext references: several input images as the one reference the pipeline takes.

diffusers 0.42's FluxKontextPipeline conditions on one image: its latents become extra tokens
after the noise tokens (position ids with a first axis of 1). A list of images is treated as a
batch, which with one prompt fails to pack, so it cannot carry several references. The API's
`input_image_2..4` ("experimental multiref") are therefore combined the way BFL's Kontext
multi-image guidance and the diffusers community do it for FLUX.1 Kontext [dev]: side by side.

`stitch_references`: every image is scaled (aspect kept) to the height of the first, they are
pasted left to right in field order (input_image, input_image_2, ...), and the strip is scaled
(aspect kept) to about the output's pixel area with both sides multiples of 16. One image is
only that last scaling: what the pipeline's own `_auto_resize` would do at about 1 MP, but at
the output's area, so a small output does not pay for a 1 MP reference. Pure PIL: no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image

MAX_REFERENCES = 4
# The VAE's 8x downsampling and FLUX's 2x2 latent packing.
MULTIPLE = 16


def reference_size(width: int, height: int, area: int) -> tuple[int, int]:
    """`width` x `height` scaled (aspect kept) to about `area` pixels, each side a multiple of
    16 (at least 16)."""
    scale = math.sqrt(area / (width * height))

    def snap(v: float) -> int:
        return max(MULTIPLE, MULTIPLE * math.floor(v / MULTIPLE + 0.5))

    return snap(width * scale), snap(height * scale)


def stitch_references(images: Sequence[Image.Image], area: int) -> Image.Image:
    """One RGB reference image from 1..4 images (see the module doc)."""
    if not 1 <= len(images) <= MAX_REFERENCES:
        raise ValueError(f"Kontext takes 1 to {MAX_REFERENCES} reference images, got {len(images)}")
    rgb = [image.convert("RGB") for image in images]
    height = rgb[0].height
    scaled = [
        im if im.height == height
        else im.resize((max(1, round(im.width * height / im.height)), height),
                       Image.Resampling.LANCZOS)
        for im in rgb
    ]
    if len(scaled) == 1:
        strip = scaled[0]
    else:
        strip = Image.new("RGB", (sum(im.width for im in scaled), height))
        x = 0
        for im in scaled:
            strip.paste(im, (x, 0))
            x += im.width
    size = reference_size(strip.width, strip.height, area)
    return strip if strip.size == size else strip.resize(size, Image.Resampling.LANCZOS)
