"""Training samples as the transformer sees them: each image fitted to the training resolution and
encoded once, each caption encoded once, by the family's frozen VAE and text encoders."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from fluxhost.engine.families.protocol import Latents, TrainingFamily

# Packed latent tokens are 2x2 patches of 8x-downsampled latents: sides must divide by 16.
SIZE_MULTIPLE = 16
# Most extreme aspect ratio trained as is; wider images are centre-cropped to it.
MAX_ASPECT = 2.0


@dataclass(frozen=True)
class Example:
    latents: Latents  # x0, packed
    prompt: Any  # the caption's conditioning (the family's own type)


def prepare_examples(
    family: TrainingFamily,
    pipe: Any,
    samples: Sequence[tuple[Image.Image, str]],
    resolution: int,
    device: Any,
) -> list[Example]:
    """Everything the frozen text encoders and VAE contribute, computed once up front."""
    import torch

    prompts: dict[str, Any] = {}
    examples = []
    with torch.no_grad():
        for image, caption in samples:
            if caption not in prompts:
                prompts[caption] = family.encode_prompt(pipe, caption, device)
            fitted = fit_image(image.convert("RGB"), resolution)
            latents = family.encode_image(pipe, fitted, device)
            examples.append(Example(latents, prompts[caption]))
    return examples


def fit_image(image: Image.Image, resolution: int) -> Image.Image:
    """About resolution² pixels, aspect ratio kept within 1:MAX_ASPECT, sides multiples of 16.
    Smaller images are upscaled: the model trains at one size per priority."""
    from PIL import Image, ImageOps

    width, height = image.size
    aspect = min(max(width / height, 1 / MAX_ASPECT), MAX_ASPECT)
    target_w = _round_side(resolution * math.sqrt(aspect))
    target_h = _round_side(resolution / math.sqrt(aspect))
    # fit = centre crop to the target aspect ratio, then resize.
    return ImageOps.fit(image, (target_w, target_h), method=Image.Resampling.LANCZOS)


def _round_side(value: float) -> int:
    return max(SIZE_MULTIPLE, round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE)
