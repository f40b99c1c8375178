"""FLUX.2 [klein] as the LoRA trainer sees it (fluxhost.training.trainer): prompt encoding, latent
packing, the timestep shift, the transformer call and the LoRA file format, each the pipeline's own
so training sees exactly what Flux2KleinPipeline generates with.

- Captions: `pipe.encode_prompt(caption)`, Qwen3's stacked hidden states (layers 9, 18, 27) at
  the pipeline's 512 tokens (fewer where the tokenizer's model_max_length says so: the emoji64
  demo's klein was trained with 20, and is served with them), with its 4-axis text position ids.
- Images: `pipe.image_processor.preprocess` to [-1, 1], then `pipe._encode_vae_image`: the
  AutoencoderKLFlux2 latent mode (deterministic), patchified 2x2 and normalised by the VAE's
  batch-norm running statistics, exactly as the pipeline encodes reference images; packed into
  tokens with `_pack_latents`, position ids from `_prepare_latent_ids` (the denoised image's ids:
  time 0, no reference offset).
- Timestep shift: where the scheduler shifts dynamically (every FLUX.2 checkpoint), the shift
  the pipeline samples with, exp(compute_empirical_mu(tokens, SHIFT_STEPS)); a scheduler with a
  static shift, its `shift`. (diffusers' train_dreambooth_lora_flux2*.py draw the scheduler's
  unshifted sigma table for a dynamic scheduler; training here spends its steps where sampling a
  Base model at 50 steps spends its own, as the FLUX.1 trainer does for FLUX.1.)
- Transformer call as the pipeline makes it: `timestep` = sigma in [0, 1], no guidance on
  [klein] (a guidance-embedding transformer, FLUX.2 [dev], gets TRAIN_GUIDANCE).
- Output: `Flux2KleinPipeline.save_lora_weights` (Flux2LoraLoaderMixin: every FLUX.2 pipeline
  loads the same format).

torch and diffusers are imported inside the methods: the engine imports this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fluxhost.engine.families.flux2.common import KLEIN
from fluxhost.engine.families.protocol import Latents
from fluxhost.engine.hf import quiet_progress

if TYPE_CHECKING:
    from PIL import Image

# Sampling steps the shift is computed for: a [klein] Base checkpoint's usual 50.
SHIFT_STEPS = 50
TRAIN_GUIDANCE = 1.0
# Flux2KleinPipeline.encode_prompt's default max_sequence_length.
PIPELINE_PROMPT_TOKENS = 512
# Single-stream blocks whose attention output projection a LoRA adapts, by index: their module
# is named `attn.to_out` like the double-stream blocks' ModuleList, so it is named with its block
# (peft matches a dotted suffix). 48 covers FLUX.2 [dev]; [klein] 4B has 20, 9B 24.
MAX_SINGLE_BLOCKS = 48
# Attention projections of both block types, the text stream's, and the single-stream blocks'
# fused QKV+MLP input and output projections (the modules of diffusers' FLUX.2 DreamBooth LoRAs).
LORA_TARGET_MODULES: tuple[str, ...] = (
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "add_q_proj",
    "add_k_proj",
    "add_v_proj",
    "to_add_out",
    "to_qkv_mlp_proj",
    *(f"single_transformer_blocks.{i}.attn.to_out" for i in range(MAX_SINGLE_BLOCKS)),
)


@dataclass(frozen=True)
class Prompt:
    """A caption's FLUX.2 conditioning."""

    embeds: Any  # (1, tokens, joint_attention_dim): stacked Qwen3 hidden states
    text_ids: Any  # (1, tokens, 4)


def prompt_tokens(pipe: Any) -> int:
    """The prompt length generation uses: the pipeline's 512, capped by the tokenizer."""
    limit = getattr(pipe.tokenizer, "model_max_length", None)
    return min(PIPELINE_PROMPT_TOKENS, int(limit)) if limit else PIPELINE_PROMPT_TOKENS


class KleinTraining:
    """The TrainingFamily of FLUX.2 [klein] (Flux2KleinPipeline)."""

    pipeline = KLEIN.name
    lora_target_modules = LORA_TARGET_MODULES
    encoders = ("text_encoder", "vae")

    def encode_prompt(self, pipe: Any, caption: str, device: Any) -> Prompt:
        embeds, text_ids = pipe.encode_prompt(prompt=caption, device=device,
                                              max_sequence_length=prompt_tokens(pipe))
        return Prompt(embeds.to(pipe.transformer.dtype), text_ids)

    def encode_image(self, pipe: Any, image: Image.Image, device: Any) -> Latents:
        width, height = image.size
        pixels = pipe.image_processor.preprocess(image, height=height, width=width)
        pixels = pixels.to(device=device, dtype=pipe.vae.dtype)
        latents = pipe._encode_vae_image(pixels, generator=None)  # (1, 4C, H/16, W/16)
        ids = pipe._prepare_latent_ids(latents).to(device)
        packed = pipe._pack_latents(latents).to(pipe.transformer.dtype)
        return Latents(packed, ids, packed.shape[1])

    def time_shift(self, scheduler_config: Any, tokens: int) -> float:
        from diffusers.pipelines.flux2.pipeline_flux2_klein import compute_empirical_mu

        if _config(scheduler_config, "use_dynamic_shifting", False):
            return math.exp(compute_empirical_mu(tokens, SHIFT_STEPS))
        return float(_config(scheduler_config, "shift", 1.0))

    def predict(self, transformer: Any, noisy: Any, sigma: Any, latents: Latents,
                prompt: Prompt) -> Any:
        import torch

        guided = bool(getattr(transformer.config, "guidance_embeds", False))
        guidance = torch.full((1,), TRAIN_GUIDANCE, device=noisy.device) if guided else None
        return transformer(
            hidden_states=noisy,
            timestep=sigma,
            guidance=guidance,
            encoder_hidden_states=prompt.embeds,
            txt_ids=prompt.text_ids,
            img_ids=latents.positions,
            return_dict=False,
        )[0]

    def save_lora(self, state: dict[str, Any], directory: Path, weight_name: str) -> None:
        from diffusers import Flux2KleinPipeline

        with quiet_progress():
            Flux2KleinPipeline.save_lora_weights(
                directory, transformer_lora_layers=state, weight_name=weight_name
            )


def _config(config: Any, name: str, default: Any) -> Any:
    value = config.get(name) if hasattr(config, "get") else getattr(config, name, None)
    return default if value is None else value


TRAINING = KleinTraining()
