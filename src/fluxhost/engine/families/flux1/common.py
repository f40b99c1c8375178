"""What every FLUX.1 pipeline shares: CLIP-L + T5-XXL text encoders, one VAE, T5 prompt length.

Component sharing: every FLUX.1 pipeline BFL released (dev, schnell, Fill, Canny, Depth, Kontext)
ships the same CLIP-L and T5-XXL text encoders, tokenizers and VAE; only the transformer differs.
Redux ships none of them, but needs the text encoders to place its image tokens after the T5
tokens. So the engine loads those components once -- from whichever pipeline it loads first --
and passes them to `from_pretrained` for every later pipeline, which then reads only its
transformer (plus its own scheduler). With FLUX.1-dev that saves about 10 GB of bf16 weights per
extra kind. The assumption is that all configured kinds belong to FLUX.1; mixing in a model with
other text encoders or VAE is not supported.
"""

from __future__ import annotations

from typing import Any

from fluxhost.engine.families.protocol import PipelineSpec

# The text components and the VAE, loaded once and passed to every later FLUX.1 pipeline.
TEXT_COMPONENTS: tuple[str, ...] = ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
SHARED_COMPONENTS: tuple[str, ...] = (*TEXT_COMPONENTS, "vae")

T5_MAX_SEQUENCE = 512
# FLUX.1-schnell (no guidance embedding) was trained with 256 T5 tokens, FLUX.1-dev with 512.
T5_MAX_SEQUENCE_UNGUIDED = 256

# The module set of typical FLUX LoRA trainers. Attention projections alone barely move the dev
# model's output (their contribution is gated by small random modulation); the MLP and output
# projections make strength 1 vs 2 clearly visible. x_embedder is left out, as most trainers do:
# it is the one layer whose shape differs between the base and the fill/control transformers.
# A LoRA that does target it still loads into those (see fluxhost.engine.lora).
LORA_TARGET_MODULES = (
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "add_q_proj",
    "add_k_proj",
    "add_v_proj",
    "to_add_out",
    "ff.net.0.proj",
    "ff.net.2",
    "proj_mlp",
    "proj_out",
)


def pipeline(name: str, class_name: str) -> PipelineSpec:
    """A FLUX.1 pipeline: it shares the text components and the VAE."""
    return PipelineSpec(name, class_name, shared=SHARED_COMPONENTS)


def max_sequence_length(pipe: Any) -> int:
    """T5 tokens per prompt: what the model was trained with, capped by its tokenizer."""
    guided = bool(getattr(pipe.transformer.config, "guidance_embeds", True))
    limit = T5_MAX_SEQUENCE if guided else T5_MAX_SEQUENCE_UNGUIDED
    tokenizer_limit = getattr(pipe.tokenizer_2, "model_max_length", limit) or limit
    return min(limit, int(tokenizer_limit))


def prompt_inputs(pipe: Any, prompt: str) -> dict[str, Any]:
    """A text prompt as a FLUX.1 pipeline takes it (it encodes the prompt itself)."""
    return {"prompt": prompt, "max_sequence_length": max_sequence_length(pipe)}


def encode_prompt(pipe: Any, prompt: str, *, prompt_2: str | None = None,
                  device: Any = None) -> tuple[Any, Any, Any]:
    """(T5 embeddings, pooled CLIP embedding, text position ids) of `prompt`, at the length
    generation uses; `prompt_2` is T5's prompt (None: `prompt`). Call under torch.no_grad()."""
    embeds, pooled, text_ids = pipe.encode_prompt(
        prompt=prompt, prompt_2=prompt_2, device=device,
        max_sequence_length=max_sequence_length(pipe),
    )
    return embeds, pooled, text_ids
