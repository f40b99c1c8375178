"""Memory modes at load: a kind's transformer and text encoders quantized by diffusers' and
transformers' own configs (torchao int8/float8 weight-only, bitsandbytes NF4), or its
transformer read from a .gguf file (GGUFQuantizationConfig + from_single_file), so a real
checkpoint loads exactly as diffusers documents it.

Which mode can run where is decided before anything loads (`refusal`): the server stops at
start with one line naming the kind, the mode and why, rather than failing its first task.

What was measured on torchao 0.18 with torch 2.13 (CPU): int8 and float8 weight-only both load
and run on CPU (float8 as dequantizing weight-only: memory saved, no FP8 kernels), so only a
CUDA card below compute capability 8.9 refuses float8, as the issue asks.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fluxhost.modes import KindModes, Quant

if TYPE_CHECKING:
    import torch

# torchao's weight-only configs by mode (torchao.quantization); nf4 is bitsandbytes'.
TORCHAO_CONFIGS = {"int8": "Int8WeightOnlyConfig", "float8": "Float8WeightOnlyConfig"}
# FP8 tensor cores: Ada (8.9), Hopper (9.0), Blackwell.
FP8_CAPABILITY = (8, 9)
# diffusers' is_gguf_available wants at least this gguf.
GGUF_PACKAGE = "gguf"
INSTALL_QUANT = "pip install 'fluxhost[quant]'"


class ModeUnavailable(ValueError):
    """A configured memory mode cannot run on this machine; the message is one line."""


@dataclass(frozen=True)
class DeviceKind:
    """What a mode needs to know of the device: its type and, on CUDA, compute capability."""

    type: str
    capability: tuple[int, int] | None = None

    @classmethod
    def of(cls, device: torch.device) -> DeviceKind:
        import torch

        if device.type != "cuda" or not torch.cuda.is_available():
            return cls(device.type)
        major, minor = torch.cuda.get_device_capability(device)
        return cls("cuda", (major, minor))


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def refusal(kind: str, modes: KindModes, device: DeviceKind,
            has: Callable[[str], bool] = installed) -> str | None:
    """Why `kind`'s modes cannot run on `device` (one line), or None when they can."""
    for part, quant in (("transformer_quant", modes.transformer_quant),
                        ("text_encoder_quant", modes.text_encoder_quant)):
        why = _quant_problem(quant, device, has)
        if why is not None:
            return f"kind {kind!r}: {part}={quant} cannot run here: {why}"
    if modes.gguf is not None:
        why = _gguf_problem(modes.gguf, has)
        if why is not None:
            return f"kind {kind!r}: gguf={modes.gguf} cannot run here: {why}"
    return None


def _quant_problem(quant: Quant, device: DeviceKind, has: Callable[[str], bool]) -> str | None:
    if quant == "none":
        return None
    if quant == "nf4":
        if device.type != "cuda":
            return f"bitsandbytes NF4 needs a CUDA GPU; this device is {device.type}"
        if not has("bitsandbytes"):
            return "the bitsandbytes package is not installed (pip install bitsandbytes)"
        return None
    if not has("torchao"):
        return f"the torchao package is not installed ({INSTALL_QUANT})"
    if quant == "float8" and device.type == "cuda" and (device.capability or (0, 0)) \
            < FP8_CAPABILITY:
        major, minor = device.capability or (0, 0)
        return (f"float8 needs a GPU with FP8 (compute capability 8.9+: Ada, Hopper, "
                f"Blackwell); this one is {major}.{minor}: use int8 or nf4")
    return None


def _gguf_problem(gguf: str, has: Callable[[str], bool]) -> str | None:
    if not has(GGUF_PACKAGE):
        return f"the gguf package is not installed ({INSTALL_QUANT})"
    if not gguf.endswith(".gguf"):
        return "not a .gguf file name"
    is_url = gguf.startswith(("http://", "https://"))
    if not is_url and not Path(gguf).expanduser().is_file():
        return "no such file"
    return None


def check_modes(kinds: Collection[str], modes_for: Callable[[str], KindModes],
                device: DeviceKind, has: Callable[[str], bool] = installed) -> None:
    """ModeUnavailable for the first of `kinds` (sorted) whose modes cannot run on `device`."""
    for kind in sorted(kinds):
        why = refusal(kind, modes_for(kind), device, has)
        if why is not None:
            raise ModeUnavailable(why)


def mode_keys(keys: dict[str, str], modes: KindModes) -> dict[str, str]:
    """Share keys (fluxhost.engine.loading.share_keys) told apart by the text encoders' mode:
    a kind whose encoders are int8 never borrows another kind's unquantized ones."""
    if modes.text_encoder_quant == "none":
        return keys
    return {name: f"{key}:{modes.text_encoder_quant}" if name.startswith("text_encoder")
            else key for name, key in keys.items()}


def load_kwargs(modes: KindModes | None, *, components: Collection[str], source: str,
                local: bool, dtype: torch.dtype) -> dict[str, Any]:
    """What `from_pretrained` takes to load a pipeline in `modes`: a quantization_config for
    its quantized `components` (those it loads itself), and a transformer read from the gguf
    file. Empty for no modes."""
    if modes is None:
        return {}
    kwargs: dict[str, Any] = {}
    if modes.gguf is not None and "transformer" in components:
        kwargs["transformer"] = load_gguf_transformer(modes.gguf, source, local=local,
                                                      dtype=dtype)
    mapping = _quant_mapping(modes, [c for c in components if c not in kwargs], dtype)
    if mapping:
        from diffusers import PipelineQuantizationConfig

        kwargs["quantization_config"] = PipelineQuantizationConfig(quant_mapping=mapping)
    return kwargs


def _quant_mapping(modes: KindModes, components: Collection[str],
                   dtype: torch.dtype) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    if modes.transformer_quant != "none" and "transformer" in components:
        mapping["transformer"] = diffusers_config(modes.transformer_quant, dtype)
    if modes.text_encoder_quant != "none":
        for name in components:
            if name.startswith("text_encoder"):
                mapping[name] = transformers_config(modes.text_encoder_quant, dtype)
    return mapping


def diffusers_config(quant: Quant, dtype: torch.dtype) -> Any:
    """diffusers' quantization config of a transformer in `quant`."""
    import diffusers

    if quant == "nf4":
        return diffusers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                            bnb_4bit_compute_dtype=dtype)
    return diffusers.TorchAoConfig(_torchao_config(quant))


def transformers_config(quant: Quant, dtype: torch.dtype) -> Any:
    """transformers' quantization config of a text encoder in `quant`."""
    import transformers

    if quant == "nf4":
        return transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                               bnb_4bit_compute_dtype=dtype)
    return transformers.TorchAoConfig(_torchao_config(quant))


def _torchao_config(quant: Quant) -> Any:
    from torchao import quantization

    return getattr(quantization, TORCHAO_CONFIGS[quant])()


def load_gguf_transformer(gguf: str, source: str, *, local: bool, dtype: torch.dtype) -> Any:
    """The transformer of `source`'s class and config, its weights from the gguf file
    (quantized tensors stay quantized and are dequantized per layer to `dtype`)."""
    import diffusers

    config = diffusers.DiffusionPipeline.load_config(source, local_files_only=local)
    class_name = config["transformer"][1]  # model_index.json: [library, class]
    cls = getattr(diffusers, class_name)
    return cls.from_single_file(
        gguf, config=source, subfolder="transformer", local_files_only=local,
        quantization_config=diffusers.GGUFQuantizationConfig(compute_dtype=dtype),
        torch_dtype=dtype,
    )
