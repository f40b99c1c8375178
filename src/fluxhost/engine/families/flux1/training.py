"""FLUX.1 as the LoRA trainer sees it (fluxhost.training.trainer): prompt encoding, latent packing,
the transformer call and the LoRA file format.

- Each caption is encoded once, without gradients, with `pipe.encode_prompt(prompt=caption,
  prompt_2=caption)` and the T5 length the engine serves with, so training sees exactly the
  conditioning that generation will.
- Images are encoded once with the VAE (the mean of its latent distribution, so the run is
  deterministic), normalised as FLUX does, `(latents - shift_factor) * scaling_factor`, and
  packed 2x2 into tokens with `FluxPipeline._pack_latents` / `_prepare_latent_image_ids`.
- The transformer is called exactly as FluxPipeline calls it: `timestep` is the sigma in [0, 1]
  (the pipeline passes scheduler timesteps / 1000; the model multiplies by 1000 itself), and on
  guidance-distilled models (FLUX.1-dev: `guidance_embeds`) `guidance` = 1.0, the value LoRA
  trainers for FLUX.1-dev (ai-toolkit, SimpleTuner) use; it leaves the distilled guidance
  embedding, which serving drives with the request's guidance, untouched.
- Output: `FluxPipeline.save_lora_weights`, the diffusers FLUX LoRA format the engine loads.

torch and diffusers are imported inside the methods: the engine imports this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fluxhost.engine.families.flux1 import common
from fluxhost.engine.families.protocol import Latents
from fluxhost.engine.hf import quiet_progress

if TYPE_CHECKING:
    from PIL import Image

# Guidance-embedding input during training (see the module docstring).
TRAIN_GUIDANCE = 1.0


@dataclass(frozen=True)
class Prompt:
    """A caption's FLUX.1 conditioning."""

    embeds: Any  # (1, seq, joint_attention_dim) T5
    pooled: Any  # (1, pooled_projection_dim) CLIP
    text_ids: Any  # (seq, 3)


class Flux1Training:
    """The TrainingFamily half of the FLUX.1 text to image family."""

    pipeline = "base"
    lora_target_modules = common.LORA_TARGET_MODULES
    encoders = ("text_encoder", "text_encoder_2", "vae")

    def encode_prompt(self, pipe: Any, caption: str, device: Any) -> Prompt:
        dtype = pipe.transformer.dtype
        embeds, pooled, text_ids = common.encode_prompt(pipe, caption, prompt_2=caption,
                                                        device=device)
        return Prompt(embeds.to(dtype), pooled.to(dtype), text_ids)

    def encode_image(self, pipe: Any, image: Image.Image, device: Any) -> Latents:
        import numpy as np
        import torch

        dtype = pipe.transformer.dtype
        vae = pipe.vae
        scaling = vae.config.scaling_factor
        shift = getattr(vae.config, "shift_factor", None) or 0.0
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
        pixels = pixels.permute(2, 0, 1)[None].to(device=device, dtype=vae.dtype)
        encoded = vae.encode(pixels)
        # AutoencoderKL: the distribution's mean (deterministic); AutoencoderTiny: .latents.
        dist = getattr(encoded, "latent_dist", None)
        latents = dist.mode() if dist is not None else encoded.latents
        latents = ((latents - shift) * scaling).to(dtype)
        _, channels, height, width = latents.shape
        packed = pipe._pack_latents(latents, 1, channels, height, width)
        ids = pipe._prepare_latent_image_ids(1, height // 2, width // 2, device, dtype)
        return Latents(packed, ids, packed.shape[1])

    def time_shift(self, scheduler_config: Any, tokens: int) -> float:
        """exp(mu), mu = diffusers' calculate_shift for `tokens` (0.5 at 256 tokens .. 1.15 at
        4096): FluxPipeline's dynamic shift, from the scheduler config (FLUX.1's values where it
        has none)."""

        def get(name: str, default: float) -> float:
            value = (scheduler_config.get(name) if hasattr(scheduler_config, "get")
                     else getattr(scheduler_config, name, None))
            return float(value if value is not None else default)

        base_len, max_len = get("base_image_seq_len", 256), get("max_image_seq_len", 4096)
        base_shift, max_shift = get("base_shift", 0.5), get("max_shift", 1.15)
        slope = (max_shift - base_shift) / (max_len - base_len)
        return math.exp(base_shift + slope * (tokens - base_len))

    def predict(self, transformer: Any, noisy: Any, sigma: Any, latents: Latents,
                prompt: Prompt) -> Any:
        import torch

        guided = bool(getattr(transformer.config, "guidance_embeds", False))
        device = noisy.device
        return transformer(
            hidden_states=noisy,
            timestep=sigma,
            guidance=torch.full((1,), TRAIN_GUIDANCE, device=device) if guided else None,
            pooled_projections=prompt.pooled,
            encoder_hidden_states=prompt.embeds,
            txt_ids=prompt.text_ids,
            img_ids=latents.positions,
            return_dict=False,
        )[0]

    def save_lora(self, state: dict[str, Any], directory: Path, weight_name: str) -> None:
        from diffusers import FluxPipeline

        with quiet_progress():
            FluxPipeline.save_lora_weights(
                directory, transformer_lora_layers=state, weight_name=weight_name
            )
