"""Image prompts: FLUX Redux image tokens blended with the text prompt's embeddings.

FLUX.1-Redux turns an image into extra "text" tokens: SigLIP encodes it and the Redux projector
maps each patch embedding into the T5 token width. FluxPriorReduxPipeline returns the T5 prompt
embeddings with those image tokens appended, plus the pooled (CLIP) embedding; BFL's reference
use (image variation) passes zeros for both text parts, so only the image conditions the model.

Blend at strength s (0 < s <= 1), with T = the prompt's T5 embeddings (L tokens), P = its pooled
CLIP embedding and I = the Redux image tokens:

    prompt_embeds        = concat((1 - s) * T, s * I)     (L + image tokens)
    pooled_prompt_embeds = (1 - s) * P

s = 1 is exactly BFL's image-only Redux conditioning (zero text, unscaled image tokens); in
between, the text fades out linearly while the image tokens fade in. s = 0 does not come here at
all: the engine then runs the plain text path, so its output is bit-identical to a request without
an image prompt (zero-scaled image tokens would still take part in attention and change it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fluxhost.engine.types import ImagePrompt


def check_strength(strength: float) -> None:
    # `not (0 <= s <= 1)` also rejects NaN.
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"image prompt strength must be between 0 and 1, got {strength}")


def image_prompt_embeds(
    base: Any, redux: Any, prompt: str, image_prompt: ImagePrompt, max_sequence_length: int
) -> dict[str, Any]:
    """`prompt_embeds` and `pooled_prompt_embeds` for the base pipeline (see the module doc).

    `redux` must hold text encoders whose widths match `base`'s (the engine gives it the base
    pipeline's own): it appends its image tokens to the text embeddings it is given, and without
    encoders it would substitute zeros of FLUX.1-dev's widths instead.
    """
    import torch

    check_strength(image_prompt.strength)
    s = float(image_prompt.strength)
    with torch.no_grad():
        text, pooled, _ids = base.encode_prompt(
            prompt=prompt, prompt_2=None, max_sequence_length=max_sequence_length
        )
        # Zero text in, so the Redux output is [zeros | image tokens] and zero pooled: the
        # image-only conditioning, from which the image tokens are sliced.
        out = redux(
            image=image_prompt.image.convert("RGB"),
            prompt_embeds=torch.zeros_like(text),
            pooled_prompt_embeds=torch.zeros_like(pooled),
        )
        image_tokens = out.prompt_embeds[:, text.shape[1] :].to(text.dtype)
        return {
            "prompt_embeds": torch.cat([text * (1.0 - s), image_tokens * s], dim=1),
            "pooled_prompt_embeds": pooled * (1.0 - s),
        }
