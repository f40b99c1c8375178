"""The memory plan's arithmetic, torch-free: the bytes each configured kind's weights take in
its modes, the total against a device's memory (components shared between kinds counted
once, as the engine shares them), and what to change when it does not fit.

Bytes per parameter: the load dtype's (bf16 2, float32 4) unquantized; int8 and float8
weight-only 1 for nn.Linear weights (torchao keeps one scale per row: negligible) and the
dtype's for the rest; nf4 0.5 + 4/64 (bitsandbytes' fp32 absmax per 64-weight block, no
double quantization, as fluxhost configures it); a gguf transformer its file's size, or its
type's bits per weight (from the file name) when the file is not here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from fluxhost.engine.memory.params import Count

GB = 1e9
BYTES_PER_WEIGHT = {"int8": 1.0, "float8": 1.0, "nf4": 0.5 + 4 / 64}
# llama.cpp's block formats, bits per weight (their block sizes and scales included).
GGUF_BITS = {"F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5, "Q6_K": 6.5625,
             "Q5_K": 5.5, "Q5_0": 5.5, "Q5_1": 6.0, "Q4_K": 4.5, "Q4_0": 4.5, "Q4_1": 5.0,
             "Q3_K": 3.4375, "Q2_K": 2.625, "IQ4_XS": 4.25, "IQ4_NL": 4.5}
_GGUF_TYPE = re.compile(r"(IQ4_XS|IQ4_NL|Q\d_K|Q\d_\d|BF16|F16|F32)", re.IGNORECASE)
# Held besides the weights on a GPU: activations at about 1 MP, the CUDA context, the
# allocator's slack. An estimate, said so in the plan.
WORKING_BYTES = int(1.5 * GB)


def gguf_bits(file_name: str) -> float | None:
    """Bits per weight of a gguf file named after its type (flux1-dev-Q4_K_S.gguf: 4.5)."""
    found = _GGUF_TYPE.search(file_name)
    return GGUF_BITS.get(found.group(1).upper()) if found else None


@dataclass(frozen=True)
class Part:
    """One component one kind loads, in its mode."""

    kind: str
    name: str  # the pipeline's component: transformer, text_encoder_2, vae, ...
    label: str  # FLUX.1 [dev] transformer, T5-XXL, ...
    count: Count
    quant: str  # none, int8, float8, nf4, gguf
    share: str  # parts with the same key are one object in memory (loaded once)
    dtype_bytes: int
    file_bytes: int | None = None  # a gguf file's size

    @property
    def bytes(self) -> int:
        if self.file_bytes is not None:
            return self.file_bytes
        if self.quant == "none":
            return self.count.total * self.dtype_bytes
        per = BYTES_PER_WEIGHT[self.quant]
        return round(self.count.linear * per + self.count.other * self.dtype_bytes)

    @property
    def is_text_encoder(self) -> bool:
        return self.name.startswith("text_encoder")


@dataclass(frozen=True)
class Device:
    name: str  # cuda:0, cpu
    total: int  # bytes
    cuda: bool
    float8: bool = True  # float8 can run (a CUDA card of compute capability 8.9+, or CPU)


def unique(parts: Iterable[Part]) -> list[Part]:
    seen: dict[str, Part] = {}
    for part in parts:
        seen.setdefault(part.share, part)
    return list(seen.values())


def total(parts: Iterable[Part]) -> int:
    return sum(p.bytes for p in unique(parts))


def need_on_device(parts: Iterable[Part], offload: str) -> int:
    """Bytes the device holds at once: every weight; with model offload the largest model
    (diffusers moves one at a time); with sequential offload one layer (taken as none)."""
    kept = unique(parts)
    if offload == "model":
        return max((p.bytes for p in kept), default=0) + WORKING_BYTES
    if offload == "sequential":
        return WORKING_BYTES
    return sum(p.bytes for p in kept) + WORKING_BYTES


def requantized(parts: Iterable[Part], transformer: str | None,
                text: str | None) -> list[Part]:
    """`parts` with the unquantized transformers (not gguf) and text encoders in new modes."""
    out = []
    for p in parts:
        mode = (transformer if p.name == "transformer" else text if p.is_text_encoder else None)
        if mode is not None and p.quant == "none":
            out.append(replace(p, quant=mode, share=f"{p.share}:{mode}"))
        else:
            out.append(p)
    return out


def fmt(n: int) -> str:
    """Decimal units, as cards and model cards state sizes (a "24 GB" card has 24 GiB)."""
    return f"{n / GB:.1f} GB" if n >= 0.1 * GB else f"{n / 1e6:.1f} MB"
