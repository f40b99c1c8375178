"""The dev model set's FLUX.2 entries, one per built-in kind, and random LoRAs for them.

- flux2-dev: Flux2Pipeline with a Mistral3 text encoder, a guidance-embedding transformer.
- klein-4b: Flux2KleinPipeline, distilled (is_distilled true), with the "4B" Qwen3 encoder.
- klein-9b: Flux2KleinPipeline, distilled, with the wider "9B" Qwen3 encoder.
- klein-9b-kv: Flux2KleinKVPipeline with the 9B's encoder (one object saved twice, as BFL's
  9B and 9B KV releases hold the same Qwen3-8B).

All four hold the same VAE, as BFL's releases do. Each transformer has its own seed, so the
weights do not depend on build order. The pipeline parts: flux2.dev_components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluxhost.engine.devparts import DevBuilder, DevParts, write_random_lora
from fluxhost.engine.families.flux2.dev_components import (
    MISTRAL_WIDTH,
    QWEN3_WIDTH,
    build_mistral3,
    build_mistral_tokenizer,
    build_qwen3,
    build_qwen_tokenizer,
    build_scheduler,
    build_transformer,
    build_vae,
)
from fluxhost.engine.hf import quiet_progress, set_offline_env
from fluxhost.engine.rng import seeded

SEED_VAE, SEED_MISTRAL = 40, 41
SEED_QWEN3 = {"4b": 42, "9b": 43}
SEED_TRANSFORMER = {"flux2-dev": 44, "klein-4b": 45, "klein-9b": 46, "klein-9b-kv": 47}

# What a FLUX.2 LoRA adapts: diffusers' FLUX.2 DreamBooth scripts' attention projections, the
# single-stream blocks' fused projection and output, and the double-stream MLPs (which make a
# random adapter's effect plainly visible on the dev transformer).
LORA_TARGET_MODULES = (
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "add_q_proj",
    "add_k_proj",
    "add_v_proj",
    "to_add_out",
    "ff.linear_in",
    "ff.linear_out",
    "to_qkv_mlp_proj",
    "single_transformer_blocks.0.attn.to_out",
)


@dataclass(frozen=True)
class Encoder:
    """A text encoder and its tokenizer, as pipelines take them."""

    text_encoder: Any
    tokenizer: Any


def _mistral() -> Encoder:
    tokenizer = build_mistral_tokenizer()
    return Encoder(build_mistral3(tokenizer, seed=SEED_MISTRAL), tokenizer)


def _qwen3(size: str) -> Encoder:
    tokenizer = build_qwen_tokenizer()
    return Encoder(build_qwen3(tokenizer, QWEN3_WIDTH[size], seed=SEED_QWEN3[size]), tokenizer)


def _encoder(name: str) -> Encoder:
    return _mistral() if name == "mistral" else _qwen3(name)


def _save(pipe: Any, out_dir: Path) -> None:
    with quiet_progress():
        pipe.save_pretrained(out_dir)


def _build(kind: str, class_name: str, encoder: str, **config: Any) -> DevBuilder:
    """A builder of `kind`: pipeline `class_name` with `encoder` ("mistral", "4b" or "9b")."""

    def build(out_dir: Path, parts: DevParts) -> None:
        import diffusers

        enc = parts.get(f"flux2-{encoder}", lambda: _encoder(encoder))
        width = MISTRAL_WIDTH if encoder == "mistral" else QWEN3_WIDTH[encoder]
        # FLUX.2 [dev] is guidance-distilled (a guidance embedding); [klein] has none.
        transformer = build_transformer(SEED_TRANSFORMER[kind], text_width=width,
                                        guidance_embeds=encoder == "mistral")
        pipe = getattr(diffusers, class_name)(
            scheduler=build_scheduler(),
            vae=parts.get("flux2-vae", lambda: build_vae(SEED_VAE)),
            text_encoder=enc.text_encoder,
            tokenizer=enc.tokenizer,
            transformer=transformer,
            **config,
        )
        _save(pipe, out_dir)

    return build


# Kind -> builder writing its save_pretrained directory.
DEV_BUILDERS: dict[str, DevBuilder] = {
    "flux2-dev": _build("flux2-dev", "Flux2Pipeline", "mistral"),
    "klein-4b": _build("klein-4b", "Flux2KleinPipeline", "4b", is_distilled=True),
    "klein-9b": _build("klein-9b", "Flux2KleinPipeline", "9b", is_distilled=True),
    # Distilled by construction: the KV pipeline has no is_distilled setting.
    "klein-9b-kv": _build("klein-9b-kv", "Flux2KleinKVPipeline", "9b"),
}


def build_transformer_like(pipeline_dir: Path, seed: int) -> Any:
    """Another transformer for the dev pipeline at `pipeline_dir` (same shapes, other weights):
    for a checkpoint of one's own, e.g. a [klein] Base beside the distilled one."""
    from diffusers import Flux2Transformer2DModel

    set_offline_env()
    config = Flux2Transformer2DModel.load_config(Path(pipeline_dir) / "transformer")
    model: Any
    with seeded(seed):
        model = Flux2Transformer2DModel.from_config(config)
    return model.eval()


def make_dev_lora(
    pipeline_dir: Path,
    out_file: Path,
    seed: int = 0,
    rank: int = 4,
    target_modules: Sequence[str] = LORA_TARGET_MODULES,
) -> Path:
    """Write a random LoRA for the dev FLUX.2 pipeline at `pipeline_dir` to `out_file`, in the
    diffusers format Flux2LoraLoaderMixin loads. Its B matrices are random (a fresh LoRA's are
    zero, a no-op), so applying it visibly changes the output."""
    from diffusers import Flux2KleinPipeline, Flux2Transformer2DModel

    set_offline_env()
    with quiet_progress():
        transformer = Flux2Transformer2DModel.from_pretrained(
            Path(pipeline_dir) / "transformer", local_files_only=True)
    # Every FLUX.2 pipeline shares Flux2LoraLoaderMixin: one format for all three.
    return write_random_lora(transformer, Flux2KleinPipeline, Path(out_file), seed=seed, rank=rank,
                             target_modules=target_modules)
