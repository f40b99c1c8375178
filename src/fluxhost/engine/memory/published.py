"""The published configs of the models fluxhost's built-in kinds run, as data: the memory plan
counts their parameters without a download (and bench/real_size.py can build them at real size).

Each entry: the library ("diffusers"/"transformers"), the class, the config (only the entries
that differ from the class defaults matter; listed in full where short). Sources:
- FLUX.1 [dev] (black-forest-labs/FLUX.1-dev): transformer/config.json (FluxTransformer2DModel:
  19 double + 38 single blocks, 24 heads x 128, joint_attention_dim 4096), text_encoder/ (CLIP-L
  CLIPTextModel: 768 wide, 12 layers, vocab 49408), text_encoder_2/ (T5-XXL encoder
  T5EncoderModel: d_model 4096, d_ff 10240, 24 layers, 64 heads, gated-gelu, vocab 32128),
  vae/ (AutoencoderKL, 16 latent channels, no quant convs). FLUX.1 Fill: in_channels 384;
  Canny/Depth: in_channels 128 (their model cards' transformer/config.json).
- FLUX.2 [dev] (black-forest-labs/FLUX.2-dev): Flux2Transformer2DModel as diffusers' defaults
  (8 double + 48 single blocks, 48 heads x 128, joint_attention_dim 15360, guidance embeds),
  text_encoder/ Mistral Small 3.x 24B (Mistral3ForConditionalGeneration, the config of
  mistralai/Mistral-Small-3.2-24B-Instruct-2506: text 5120 wide, 40 layers, 32/8 heads,
  intermediate 32768, vocab 131072; Pixtral vision tower 1024 wide, 24 layers), vae/
  AutoencoderKLFlux2 (diffusers' defaults: 32 latent channels).
- FLUX.2 [klein] 4B / 9B (black-forest-labs/FLUX.2-klein-4B, -9B): transformers of 5 + 20 and
  8 + 24 blocks, 24 and 32 heads x 128, joint_attention_dim 7680 and 12288 (3 x the text
  encoder's width), no guidance embeds (as InvokeAI's presets, invokeai/backend/flux2, load
  them); text encoders Qwen/Qwen3-4B (2560 wide, 36 layers, intermediate 9728, tied embeddings)
  and Qwen/Qwen3-8B (4096 wide, 36 layers, intermediate 12288, untied) as their config.json.
- Redux (FLUX.1-Redux-dev): SigLIP so400m image encoder (google/siglip-so400m-patch14-384) and
  the ReduxImageEncoder (1152 -> 4096).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Published:
    label: str  # what the plan calls it
    library: str  # "diffusers" or "transformers"
    class_name: str
    config: dict[str, Any] = field(default_factory=dict)


FLUX1_TRANSFORMER = {"attention_head_dim": 128, "axes_dims_rope": (16, 56, 56),
                     "guidance_embeds": True, "in_channels": 64, "joint_attention_dim": 4096,
                     "num_attention_heads": 24, "num_layers": 19, "num_single_layers": 38,
                     "patch_size": 1, "pooled_projection_dim": 768}
FLUX1_VAE = {"in_channels": 3, "out_channels": 3, "latent_channels": 16,
             "block_out_channels": (128, 256, 512, 512), "layers_per_block": 2,
             "down_block_types": ("DownEncoderBlock2D",) * 4,
             "up_block_types": ("UpDecoderBlock2D",) * 4, "norm_num_groups": 32,
             "use_quant_conv": False, "use_post_quant_conv": False}
CLIP_L = {"model_type": "clip_text_model", "hidden_size": 768, "intermediate_size": 3072,
          "num_attention_heads": 12, "num_hidden_layers": 12, "max_position_embeddings": 77,
          "vocab_size": 49408, "projection_dim": 768, "hidden_act": "quick_gelu"}
T5_XXL = {"model_type": "t5", "d_model": 4096, "d_ff": 10240, "d_kv": 64, "num_heads": 64,
          "num_layers": 24, "vocab_size": 32128, "feed_forward_proj": "gated-gelu",
          "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
          "tie_word_embeddings": False}
QWEN3_4B = {"model_type": "qwen3", "hidden_size": 2560, "intermediate_size": 9728,
            "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8,
            "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": True}
QWEN3_8B = {"model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288,
            "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8,
            "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": False}
MISTRAL_SMALL_3 = {
    "model_type": "mistral3", "spatial_merge_size": 2, "multimodal_projector_bias": False,
    "tie_word_embeddings": False,
    "projector_hidden_act": "gelu", "vision_feature_layer": -1,
    "text_config": {"model_type": "mistral", "hidden_size": 5120, "intermediate_size": 32768,
                    "num_hidden_layers": 40, "num_attention_heads": 32,
                    "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 131072,
                    "tie_word_embeddings": False},
    "vision_config": {"model_type": "pixtral", "hidden_size": 1024, "intermediate_size": 4096,
                      "num_hidden_layers": 24, "num_attention_heads": 16, "head_dim": 64,
                      "image_size": 1540, "patch_size": 14, "num_channels": 3},
}
FLUX2_KLEIN_4B = {"num_layers": 5, "num_single_layers": 20, "num_attention_heads": 24,
                  "joint_attention_dim": 7680, "guidance_embeds": False}
FLUX2_KLEIN_9B = {"num_layers": 8, "num_single_layers": 24, "num_attention_heads": 32,
                  "joint_attention_dim": 12288, "guidance_embeds": False}
SIGLIP_SO400M = {"model_type": "siglip_vision_model", "hidden_size": 1152,
                 "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
                 "image_size": 384, "patch_size": 14}

_FLUX1_TEXT = {
    "text_encoder": Published("CLIP-L", "transformers", "CLIPTextModel", CLIP_L),
    "text_encoder_2": Published("T5-XXL", "transformers", "T5EncoderModel", T5_XXL),
    "vae": Published("FLUX.1 VAE", "diffusers", "AutoencoderKL", FLUX1_VAE),
}


def _flux1(label: str, **transformer: Any) -> dict[str, Published]:
    return {"transformer": Published(f"{label} transformer", "diffusers",
                                     "FluxTransformer2DModel",
                                     {**FLUX1_TRANSFORMER, **transformer}), **_FLUX1_TEXT}


def _flux2(label: str, transformer: dict[str, Any], encoder: Published) -> dict[str, Published]:
    return {"transformer": Published(f"{label} transformer", "diffusers",
                                     "Flux2Transformer2DModel", transformer),
            "text_encoder": encoder,
            "vae": Published("FLUX.2 VAE", "diffusers", "AutoencoderKLFlux2")}


# Each built-in kind's published model: component name (as in its pipeline) -> config.
KIND_MODELS: dict[str, dict[str, Published]] = {
    "base": _flux1("FLUX.1 [dev]"),
    "kontext": _flux1("FLUX.1 Kontext [dev]"),
    "fill": _flux1("FLUX.1 Fill [dev]", in_channels=384, out_channels=64),
    "canny": _flux1("FLUX.1 Canny [dev]", in_channels=128, out_channels=64),
    "depth": _flux1("FLUX.1 Depth [dev]", in_channels=128, out_channels=64),
    "redux": {
        "image_encoder": Published("SigLIP so400m", "transformers", "SiglipVisionModel",
                                   SIGLIP_SO400M),
        "image_embedder": Published("Redux embedder", "diffusers", "ReduxImageEncoder",
                                    {"redux_dim": 1152, "txt_in_features": 4096}),
    },
    "flux2-dev": _flux2("FLUX.2 [dev]", {},
                        Published("Mistral Small 3.x 24B", "transformers",
                                  "Mistral3ForConditionalGeneration", MISTRAL_SMALL_3)),
    "klein-4b": _flux2("FLUX.2 [klein] 4B", FLUX2_KLEIN_4B,
                       Published("Qwen3-4B", "transformers", "Qwen3ForCausalLM", QWEN3_4B)),
    "klein-9b": _flux2("FLUX.2 [klein] 9B", FLUX2_KLEIN_9B,
                       Published("Qwen3-8B", "transformers", "Qwen3ForCausalLM", QWEN3_8B)),
}
KIND_MODELS["klein-9b-kv"] = KIND_MODELS["klein-9b"]
# The hub ids these stand for: a kind configured with one of them is planned from the data
# above, any other hub id from the data of its kind (said so in the plan).
HUB_IDS: dict[str, str] = {
    "black-forest-labs/FLUX.1-dev": "base",
    "black-forest-labs/FLUX.1-Kontext-dev": "kontext",
    "black-forest-labs/FLUX.1-Fill-dev": "fill",
    "black-forest-labs/FLUX.1-Canny-dev": "canny",
    "black-forest-labs/FLUX.1-Depth-dev": "depth",
    "black-forest-labs/FLUX.1-Redux-dev": "redux",
    "black-forest-labs/FLUX.2-dev": "flux2-dev",
    "black-forest-labs/FLUX.2-klein-4B": "klein-4b",
    "black-forest-labs/FLUX.2-klein-9B": "klein-9b",
}
