"""The parts of the dev model set's FLUX.1 pipelines: tokenizers, text encoders, VAE, transformer,
scheduler and the Redux image encoder, shrunk to hidden size 32 and initialised with fixed seeds
(see fluxhost.engine.devmodels for the set as a whole).

Tokenizers are built locally (a CLIP byte-level BPE with no merges, a T5 Unigram over single
characters), nothing is downloaded. torch, diffusers and transformers are imported inside the
functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluxhost.engine.devparts import bytes_to_unicode
from fluxhost.engine.hf import pil_processor_class
from fluxhost.engine.rng import seeded

if TYPE_CHECKING:
    from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5Tokenizer

HIDDEN = 32
# T5 pads every prompt to this many tokens; small keeps the dev set fast, while the characters
# the tokenizer maps one-to-one still give distinct embeddings for distinct short prompts.
T5_MAX_LENGTH = 128
CLIP_MAX_LENGTH = 77

# FLUX.1 VAE latent normalisation and scheduler settings, copied from the real model configs so
# the pipelines exercise the same code paths.
FLUX_VAE_SCALING = 0.3611
FLUX_VAE_SHIFT = 0.1159
FLUX_SCHEDULER_CONFIG: dict[str, Any] = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
}

# SigLIP at 32x32 pixels in 8x8 patches: 16 image tokens per Redux image prompt (729 for the real
# SigLIP so400m at 384x384).
SIGLIP_IMAGE_SIZE = 32
SIGLIP_PATCH = 8


# --- tokenizers ---------------------------------------------------------------------------------


def build_clip_tokenizer() -> CLIPTokenizer:
    """Byte-level BPE with no merges: every byte is a token (word-final bytes carry `</w>`)."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for char in bytes_to_unicode().values():
            vocab[char + suffix] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=CLIP_MAX_LENGTH)


def build_t5_tokenizer() -> T5Tokenizer:
    """Unigram over single characters, with word-initial variants scored higher."""
    from transformers import T5Tokenizer

    chars = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-:;()/&%$#@+*=_"
    vocab: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [("▁" + c, -2.5) for c in chars]
    vocab += [(c, -3.0) for c in chars + chars.upper()]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=T5_MAX_LENGTH)


# --- models -------------------------------------------------------------------------------------


def build_text_encoders(
    clip_tok: CLIPTokenizer, t5_tok: T5Tokenizer, seed: int
) -> tuple[CLIPTextModel, T5EncoderModel]:
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    clip_config = CLIPTextConfig(
        vocab_size=len(clip_tok),
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=CLIP_MAX_LENGTH,
        projection_dim=HIDDEN,
        bos_token_id=clip_tok.bos_token_id,
        eos_token_id=clip_tok.eos_token_id,
        pad_token_id=clip_tok.pad_token_id,
    )
    t5_config = T5Config(
        vocab_size=len(t5_tok),
        d_model=HIDDEN,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        pad_token_id=t5_tok.pad_token_id,
        eos_token_id=t5_tok.eos_token_id,
    )
    with seeded(seed):
        clip = CLIPTextModel(clip_config)
    with seeded(seed + 1):
        t5 = T5EncoderModel(t5_config)
    return clip.eval(), t5.eval()


def build_vae(seed: int) -> Any:
    from diffusers import AutoencoderKL

    vae: Any
    with seeded(seed):
        # Four blocks give FLUX's 8x downsampling; the pipeline derives its latent geometry from
        # len(block_out_channels).
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 8, 8, 8),
            layers_per_block=1,
            latent_channels=16,
            norm_num_groups=4,
            sample_size=32,
            scaling_factor=FLUX_VAE_SCALING,
            shift_factor=FLUX_VAE_SHIFT,
            use_quant_conv=False,
            use_post_quant_conv=False,
        )
    return vae.eval()


def build_transformer(seed: int, in_channels: int = 64, out_channels: int | None = None) -> Any:
    from diffusers import FluxTransformer2DModel

    transformer: Any
    with seeded(seed):
        transformer = FluxTransformer2DModel(
            patch_size=1,
            in_channels=in_channels,
            out_channels=out_channels,
            num_layers=1,
            num_single_layers=2,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=HIDDEN,
            pooled_projection_dim=HIDDEN,
            guidance_embeds=True,
            axes_dims_rope=(4, 6, 6),
        )
    return transformer.eval()


def build_scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER_CONFIG)


def build_redux_components(seed_siglip: int, seed_redux: int) -> tuple[Any, Any, Any]:
    """SigLIP vision tower, its image processor, and a Redux projector into the transformer's
    text-token width (the dev transformer's joint_attention_dim, HIDDEN)."""
    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
    from transformers import SiglipVisionConfig, SiglipVisionModel

    config = SiglipVisionConfig(
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=SIGLIP_IMAGE_SIZE,
        patch_size=SIGLIP_PATCH,
    )
    with seeded(seed_siglip):
        encoder = SiglipVisionModel(config).eval()
    processor = pil_processor_class("SiglipImageProcessor")(
        size={"height": SIGLIP_IMAGE_SIZE, "width": SIGLIP_IMAGE_SIZE}
    )
    embedder: Any
    with seeded(seed_redux):
        embedder = ReduxImageEncoder(redux_dim=HIDDEN, txt_in_features=HIDDEN).eval()
    return encoder, processor, embedder
