"""What the dev model set's builders share while one build runs (fluxhost.engine.devmodels)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")


class DevParts:
    """Components built once per build and saved into several entries of the set: FLUX.1's
    pipelines all hold the same text encoders, tokenizers and VAE, like BFL's releases."""

    def __init__(self) -> None:
        self._parts: dict[str, Any] = {}

    def get(self, name: str, build: Callable[[], T]) -> T:
        """The part `name`, built by `build()` on first use."""
        if name not in self._parts:
            self._parts[name] = build()
        return cast("T", self._parts[name])


# Writes one entry of the set (a save_pretrained directory) to its path.
DevBuilder = Callable[[Path, DevParts], None]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map: the alphabet of the byte-level BPE
    tokenizers the dev set builds (CLIP, Qwen, Mistral)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}


def write_random_lora(transformer: Any, pipeline_class: Any, out_file: Path, *, seed: int,
                      rank: int, target_modules: Sequence[str]) -> Path:
    """Give `transformer` a LoRA on `target_modules` whose A and B are both random (a fresh
    LoRA's B is zero, a no-op), and write it to `out_file` in the diffusers format of
    `pipeline_class.save_lora_weights`, atomically. The dev LoRAs of every family are made so."""
    import os
    import tempfile

    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from fluxhost.engine.hf import quiet_progress
    from fluxhost.engine.rng import seeded

    with seeded(seed):
        transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                           target_modules=list(target_modules)))
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, param in transformer.named_parameters():
                if "lora_B" in name:
                    param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    state = get_peft_model_state_dict(transformer)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lora-", dir=out_file.parent) as tmp, quiet_progress():
        pipeline_class.save_lora_weights(tmp, transformer_lora_layers=state,
                                         weight_name="lora.safetensors")
        os.replace(Path(tmp) / "lora.safetensors", out_file)
    return out_file
