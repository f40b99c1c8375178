"""The dev model set's FLUX.1 entries, and random LoRAs for them.

- base, fill, canny, depth and kontext are complete pipelines that hold the *same* text encoders,
  tokenizers and VAE (one set of objects saved five times), like BFL's FLUX.1 releases, so each
  directory also loads on its own while the engine loads those components once and shares them.
  Their transformers differ only in `x_embedder`'s input width: 64 (base), 384 (fill: latents +
  masked-image latents + packed mask), 128 (canny/depth: latents + control latents); kontext
  (FluxKontextPipeline) is 64 like base: its reference image's latents are extra tokens.
- redux is shaped like black-forest-labs/FLUX.1-Redux-dev: a SigLIP vision tower, the Redux
  projector and an image processor, and no text encoders (the engine passes the base pipeline's).

Every component has its own seed, so the weights do not depend on build order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluxhost.engine.devparts import DevBuilder, DevParts, write_random_lora
from fluxhost.engine.families.flux1.common import LORA_TARGET_MODULES
from fluxhost.engine.families.flux1.dev_components import (
    build_clip_tokenizer,
    build_redux_components,
    build_scheduler,
    build_t5_tokenizer,
    build_text_encoders,
    build_transformer,
    build_vae,
)
from fluxhost.engine.hf import quiet_progress, set_offline_env

SEED_CLIP, SEED_VAE = 0, 2  # SEED_CLIP + 1 is T5
SEED_TRANSFORMER = {"base": 3, "fill": 4, "canny": 5, "depth": 6, "kontext": 10}
SEED_SIGLIP, SEED_REDUX = 7, 8

# x_embedder input width per pipeline kind (see the module docstring); all predict 64 channels.
# Kontext appends the reference image's latents along the token sequence, not the channels, so
# its transformer is as wide as base's (FLUX.1-Kontext-dev: in_channels 64).
TRANSFORMER_IN_CHANNELS = {"base": 64, "fill": 384, "canny": 128, "depth": 128, "kontext": 64}


@dataclass(frozen=True)
class SharedComponents:
    """The text encoders, tokenizers and VAE every FLUX pipeline kind of the set holds."""

    clip_tokenizer: Any
    t5_tokenizer: Any
    clip: Any
    t5: Any
    vae: Any

    def pipeline_kwargs(self) -> dict[str, Any]:
        return {
            "text_encoder": self.clip,
            "tokenizer": self.clip_tokenizer,
            "text_encoder_2": self.t5,
            "tokenizer_2": self.t5_tokenizer,
            "vae": self.vae,
        }


def build_shared_components() -> SharedComponents:
    clip_tok, t5_tok = build_clip_tokenizer(), build_t5_tokenizer()
    clip, t5 = build_text_encoders(clip_tok, t5_tok, seed=SEED_CLIP)
    return SharedComponents(clip_tok, t5_tok, clip, t5, build_vae(seed=SEED_VAE))


def _save(pipe: Any, out_dir: Path) -> None:
    with quiet_progress():
        pipe.save_pretrained(out_dir)


def _flux_builder(kind: str, class_name: str) -> DevBuilder:
    def build(out_dir: Path, parts: DevParts) -> None:
        import diffusers

        shared = parts.get("flux1", build_shared_components)
        transformer = build_transformer(
            seed=SEED_TRANSFORMER[kind],
            in_channels=TRANSFORMER_IN_CHANNELS[kind],
            # FluxTransformer2DModel predicts in_channels channels unless told otherwise; every
            # kind denoises the same 64 packed latent channels.
            out_channels=64,
        )
        pipe_cls = getattr(diffusers, class_name)
        pipe = pipe_cls(
            scheduler=build_scheduler(), transformer=transformer, **shared.pipeline_kwargs()
        )
        _save(pipe, out_dir)

    return build


def _build_redux(out_dir: Path, parts: DevParts) -> None:
    from diffusers import FluxPriorReduxPipeline

    encoder, processor, embedder = build_redux_components(SEED_SIGLIP, SEED_REDUX)
    # No text encoders, like FLUX.1-Redux-dev: the engine hands the base pipeline's to it.
    pipe = FluxPriorReduxPipeline(
        image_encoder=encoder, feature_extractor=processor, image_embedder=embedder
    )
    _save(pipe, out_dir)


# Pipeline name -> builder writing its save_pretrained directory.
DEV_BUILDERS: dict[str, DevBuilder] = {
    "base": _flux_builder("base", "FluxPipeline"),
    "fill": _flux_builder("fill", "FluxFillPipeline"),
    "canny": _flux_builder("canny", "FluxControlPipeline"),
    "depth": _flux_builder("depth", "FluxControlPipeline"),
    "kontext": _flux_builder("kontext", "FluxKontextPipeline"),
    "redux": _build_redux,
}


def make_dev_lora(
    base_dir: Path,
    out_file: Path,
    seed: int = 0,
    rank: int = 4,
    target_modules: Sequence[str] = LORA_TARGET_MODULES,
) -> Path:
    """Write a random LoRA for the dev `base` pipeline at `base_dir` to `out_file`.

    The file is the diffusers LoRA format (`FluxPipeline.save_lora_weights`), loadable with
    `FluxPipeline.load_lora_weights`. Unlike a freshly initialised LoRA (B = 0, a no-op), its B
    matrices are random too, so applying it visibly changes the output. It also applies to the
    fill, canny and depth transformers, whose targeted layers have the base shapes.
    """
    from diffusers import FluxPipeline, FluxTransformer2DModel

    set_offline_env()
    with quiet_progress():
        transformer = FluxTransformer2DModel.from_pretrained(
            Path(base_dir) / "transformer", local_files_only=True)
    return write_random_lora(transformer, FluxPipeline, Path(out_file), seed=seed, rank=rank,
                             target_modules=target_modules)
