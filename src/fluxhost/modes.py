"""The memory and speed mode vocabulary of a pipeline kind (FLUXHOST_MODELS' per-kind modes and
their FLUXHOST_* defaults), and `KindModes`, one kind's resolved modes. A leaf, like
fluxhost.kinds: settings validates against it without importing torch or diffusers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How a model's weights are held: as loaded (bf16 on CUDA), int8 or float8 weight-only
# (torchao), or 4-bit NF4 (bitsandbytes, CUDA only). A .gguf transformer file is its own mode
# (KindModes.gguf), as it brings its own quantization.
Quant = Literal["none", "int8", "float8", "nf4"]
QUANTS: tuple[Quant, ...] = ("none", "int8", "float8", "nf4")

# diffusers' AttentionBackendName values (diffusers 0.42; tests/test_modes.py compares them
# with the installed diffusers), so a typo stops the settings, not the first generation.
ATTENTION_BACKENDS = (
    "flash", "flash_hub", "flash_varlen", "flash_varlen_hub", "flash_4_hub", "_flash_3",
    "_flash_varlen_3", "_flash_3_hub", "_flash_3_varlen_hub", "aiter_fa2_hub", "flex", "native",
    "_native_cudnn", "_native_efficient", "_native_flash", "_native_math", "_native_npu",
    "_native_xla", "sage", "sage_hub", "sage_blackwell_hub", "sage_varlen",
    "_sage_qk_int8_pv_fp8_cuda", "_sage_qk_int8_pv_fp8_cuda_sm90",
    "_sage_qk_int8_pv_fp16_cuda", "_sage_qk_int8_pv_fp16_triton", "xformers",
)


def check_attention_backend(name: str) -> str:
    if name not in ATTENTION_BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; diffusers names: "
                         f"{', '.join(b for b in ATTENTION_BACKENDS if not b.startswith('_'))} "
                         "(and its private _-prefixed variants)")
    return name


@dataclass(frozen=True)
class KindModes:
    """One kind's modes, its FLUXHOST_MODELS entry over the global defaults
    (Settings.modes_for). `gguf` set means the transformer comes from that file (then
    `transformer_quant` is "none"); `first_block_cache` 0 means off."""

    transformer_quant: Quant = "none"
    text_encoder_quant: Quant = "none"
    gguf: str | None = None
    first_block_cache: float = 0.0
    compile: bool = False
    attention_backend: str = "native"

    @property
    def quantized(self) -> bool:
        return (self.transformer_quant != "none" or self.text_encoder_quant != "none"
                or self.gguf is not None)
