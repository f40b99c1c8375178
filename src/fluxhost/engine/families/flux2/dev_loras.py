"""Random FLUX.2 [klein] LoRAs in the key layouts people upload (diffusers, peft, AI-Toolkit,
kohya/ComfyUI), for the dev set's transformers: what the upload tests and the adapter-switch
bench feed the server. Each adapts the double-stream attention and MLPs, the single-stream
block and the text input (`context_embedder`, BFL's `txt_in`: the one Linear whose shape differs
between the dev klein-4b and klein-9b, so a LoRA for one does not fit the other).

The AI-Toolkit and kohya files use BFL's module names (fused qkv, `linear1`/`linear2`), which
diffusers' converters split into its own; their B matrices are random (a fresh LoRA's are zero,
a no-op), so any of them visibly changes the output at strength 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fluxhost.engine.families.flux2.lora_files import LAYOUTS, transformer_shapes

# BFL name (AI-Toolkit/kohya) -> the diffusers module whose (out, in) it has, and how many of
# them are fused into it (qkv: 3 outputs).
_DOUBLE = {"img_attn.qkv": ("attn.to_q", 3), "img_attn.proj": ("attn.to_out.0", 1),
           "txt_attn.qkv": ("attn.add_q_proj", 3), "txt_attn.proj": ("attn.to_add_out", 1),
           "img_mlp.0": ("ff.linear_in", 1), "img_mlp.2": ("ff.linear_out", 1),
           "txt_mlp.0": ("ff_context.linear_in", 1), "txt_mlp.2": ("ff_context.linear_out", 1)}
_SINGLE = {"linear1": ("attn.to_qkv_mlp_proj", 1), "linear2": ("attn.to_out", 1)}
# Diffusers modules of the diffusers and peft files, per double / single block.
_DIFFUSERS_DOUBLE = ("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj",
                     "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out", "ff.linear_in",
                     "ff.linear_out")
_DIFFUSERS_SINGLE = ("attn.to_qkv_mlp_proj", "attn.to_out")


def write_layout_lora(pipeline_dir: Path, out_file: Path, layout: str, *, seed: int = 0,
                      rank: int = 4, scale: float = 0.1) -> Path:
    """A random LoRA for the FLUX.2 transformer of `pipeline_dir`, written in `layout`."""
    from safetensors.torch import save_file

    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    shapes = transformer_shapes(str(pipeline_dir))
    state = _bfl_state(shapes, layout, rank, seed, scale) if layout in ("ai-toolkit", "kohya") \
        else _diffusers_state(shapes, layout, rank, seed, scale)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_file))
    return out_file


def _pair(out_features: int, in_features: int, rank: int, gen: Any,
          scale: float) -> tuple[Any, Any]:
    import torch

    return (torch.randn(rank, in_features, generator=gen) * scale,
            torch.randn(out_features, rank, generator=gen) * scale)


def _blocks(shapes: dict[str, tuple[int, int]], prefix: str) -> list[int]:
    return sorted({int(k.split(".")[1]) for k in shapes if k.startswith(prefix + ".")})


def _diffusers_state(shapes: dict[str, tuple[int, int]], layout: str, rank: int, seed: int,
                     scale: float) -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    modules = ["context_embedder"]
    modules += [f"transformer_blocks.{i}.{m}" for i in _blocks(shapes, "transformer_blocks")
                for m in _DIFFUSERS_DOUBLE]
    modules += [f"single_transformer_blocks.{i}.{m}"
                for i in _blocks(shapes, "single_transformer_blocks") for m in _DIFFUSERS_SINGLE]
    state = {}
    for module in modules:
        a, b = _pair(*shapes[module], rank, gen, scale)
        # peft's own save (get_peft_model_state_dict) has bare module paths; diffusers' adds
        # the component.
        name = module if layout == "peft" else f"transformer.{module}"
        state[f"{name}.lora_A.weight"], state[f"{name}.lora_B.weight"] = a, b
    return state


def _bfl_state(shapes: dict[str, tuple[int, int]], layout: str, rank: int, seed: int,
               scale: float) -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    modules = {"txt_in": shapes["context_embedder"]}
    for i in _blocks(shapes, "transformer_blocks"):
        for bfl, (module, fused) in _DOUBLE.items():
            out_features, in_features = shapes[f"transformer_blocks.{i}.{module}"]
            modules[f"double_blocks.{i}.{bfl}"] = (out_features * fused, in_features)
    for i in _blocks(shapes, "single_transformer_blocks"):
        for bfl, (module, _) in _SINGLE.items():
            modules[f"single_blocks.{i}.{bfl}"] = shapes[f"single_transformer_blocks.{i}.{module}"]
    state = {}
    for name, (out_features, in_features) in modules.items():
        a, b = _pair(out_features, in_features, rank, gen, scale)
        if layout == "kohya":  # lora_unet_ + underscores, down/up, an alpha per module
            key = "lora_unet_" + name.replace(".", "_")
            state[f"{key}.lora_down.weight"], state[f"{key}.lora_up.weight"] = a, b
            state[f"{key}.alpha"] = torch.tensor(float(rank))
        else:
            key = f"diffusion_model.{name}"
            state[f"{key}.lora_A.weight"], state[f"{key}.lora_B.weight"] = a, b
    return state
