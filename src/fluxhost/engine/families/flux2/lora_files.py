"""Uploaded FLUX.2 [klein] LoRA files: checked, converted to diffusers' layout, shape-checked
against the klein transformer they are for, and written back as the file the workers load.

Every check runs before a finetune exists, so a file that cannot be served is refused at upload
(`LoraRefused`, its message naming the problem) rather than ending a task Error later:
- the bytes: safetensors only. The header is parsed here with bounds before anything is
  loaded; a pickle (.ckpt/.pt/.bin of torch.save) or zip archive is named by its magic bytes
  and never unpickled;
- the layout: diffusers (`transformer.…lora_A.weight`, as save_lora_weights writes), peft
  (`base_model.model.…` or bare module paths, as get_peft_model_state_dict gives), AI-Toolkit
  (BFL's module names under `diffusion_model.`, lora_A/B or lora_down/up, with or without
  `.alpha`), kohya/ComfyUI (`lora_unet_…lora_down/up` with `.alpha`), converted with diffusers'
  own FLUX.2 converters, as Flux2LoraLoaderMixin.lora_state_dict converts them;
- the shapes: every lora_A (rank x in) and lora_B (out x rank) against the Linear it adapts in
  the klein transformer built from its config on the meta device (no weights read), so a 9B
  LoRA on a 4B base names a module and both shapes.
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own bound on the JSON header
MAX_TENSORS = 20_000  # a klein 9B LoRA on every Linear has a few thousand
DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
_PICKLE = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_ZIP = b"PK\x03\x04"
LAYOUTS = ("diffusers", "peft", "ai-toolkit", "kohya")
_PREFIX = "transformer."
_A, _B = ".lora_A.weight", ".lora_B.weight"
# BFL's module names (the AI-Toolkit layout without its diffusion_model. prefix).
_BFL_NAMES = ("double_blocks.", "single_blocks.", "img_in.", "txt_in.", "time_in.",
              "guidance_in.", "final_layer.", "single_stream_modulation.",
              "double_stream_modulation_")


class LoraRefused(ValueError):
    """An uploaded file that cannot be served on the chosen base; the message says why."""


@dataclass(frozen=True)
class PreparedLora:
    layout: str  # the layout the file came in (LAYOUTS)
    rank: int  # the largest rank among its modules
    modules: int  # transformer Linears it adapts
    size: int  # bytes of the converted file


def read_header(path: Path) -> dict[str, Any]:
    """The safetensors header of `path`, checked: LoraRefused for anything else."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if head.startswith(_ZIP):
            raise LoraRefused("the file is a zip archive (a torch.save checkpoint, .pt/.ckpt?), "
                              "not safetensors; only .safetensors LoRAs are accepted")
        if head[:2] in _PICKLE:
            raise LoraRefused("the file is a Python pickle (.ckpt/.pt/.bin), not safetensors; "
                              "pickles are never loaded: convert it to .safetensors")
        if len(head) < 8:
            raise LoraRefused(f"the file is {size} bytes: too short for a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length < 2 or length > min(size - 8, MAX_HEADER_BYTES):
            raise LoraRefused(f"not a safetensors file: header length {length} does not fit "
                              f"a {size}-byte file")
        raw = fh.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoraRefused(f"not a safetensors file: its header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise LoraRefused("not a safetensors file: its header is not a JSON object")
    _check_entries(header, size - 8 - length)
    return header


def _check_entries(header: dict[str, Any], data_bytes: int) -> None:
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    if not tensors:
        raise LoraRefused("the safetensors file holds no tensors")
    if len(tensors) > MAX_TENSORS:
        raise LoraRefused(f"the file holds {len(tensors)} tensors; a LoRA has at most "
                          f"{MAX_TENSORS}")
    for name, entry in tensors.items():
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES:
            dtype = entry.get("dtype") if isinstance(entry, dict) else entry
            raise LoraRefused(f"tensor {name!r} has dtype {dtype!r}; a LoRA's are one of "
                              f"{', '.join(sorted(DTYPES))}")
        offsets = entry.get("data_offsets")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_bytes):
            raise LoraRefused(f"tensor {name!r} has data offsets {offsets!r} outside the file")


def detect_layout(keys: Iterable[str]) -> str:
    """The key layout of a LoRA's tensor names (LAYOUTS), or LoraRefused saying what it is."""
    names = [k for k in keys if not k.endswith(".alpha")]
    if any(".lokr_" in k or ".hada_" in k for k in names):
        raise LoraRefused("the file is a LyCORIS LoKr/LoHa adapter, not a LoRA")
    if any("dora_scale" in k for k in names):
        raise LoraRefused("the file is a DoRA (dora_scale tensors), which is not served")
    if not any(m in k for k in names for m in ("lora_A", "lora_B", "lora_down", "lora_up")):
        raise LoraRefused(f"not a LoRA: no lora_A/lora_B or lora_down/lora_up tensors (e.g. "
                          f"{names[0]!r}); a full checkpoint is not accepted")
    if any(k.startswith("lora_unet_") or k.startswith("lora_te") for k in names):
        return "kohya"
    if any(k.startswith("diffusion_model.") for k in names):
        return "ai-toolkit"
    if all(k.startswith(_PREFIX) for k in names):
        return "diffusers"
    return "peft"


def to_diffusers(state: dict[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """`state` in diffusers' layout (`transformer.<module>.lora_A/B.weight`, scales folded
    in), by diffusers' own converters; LoraRefused for keys they leave unconverted."""
    from diffusers.loaders import lora_conversion_utils as conv

    state = dict(state)
    if layout == "kohya":
        if any(k.startswith("lora_te") for k in state):
            raise LoraRefused("the file has text-encoder layers (lora_te*); only transformer "
                              "LoRAs are served")
        converted = conv._convert_kohya_flux2_lora_to_diffusers(state)
        if state:  # the converter pops what it converts and only logs the rest
            raise LoraRefused(f"kohya keys with no FLUX.2 [klein] module: {_few(state)}")
        return converted
    if layout == "peft":
        state = {k.removeprefix("base_model.model."): v for k, v in state.items()}
        if not any(k.startswith(_BFL_NAMES) for k in state):  # diffusers' module paths
            return {_PREFIX + k: v for k, v in state.items()}
        state = {f"diffusion_model.{k}": v for k, v in state.items()}
        layout = "ai-toolkit"  # BFL's names, bare: as diffusers' loader, convert them
    if layout == "ai-toolkit":
        try:
            return conv._convert_non_diffusers_flux2_lora_to_diffusers(_fold_alphas(state))
        except (ValueError, IndexError, RuntimeError) as exc:
            raise LoraRefused(f"AI-Toolkit/peft keys with no FLUX.2 [klein] module: "
                              f"{_short(exc)}") from None
    return state


def _fold_alphas(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`<module>.alpha` folded into the module's down weight (alpha / rank), as the kohya
    converter does: the FLUX.2 AI-Toolkit converter takes no alpha keys."""
    out = {k: v for k, v in state.items() if not k.endswith(".alpha")}
    for key in [k for k in state if k.endswith(".alpha")]:
        module = key.removesuffix(".alpha")
        down = next((f"{module}.{n}.weight" for n in ("lora_A", "lora_down")
                     if f"{module}.{n}.weight" in out), None)
        if down is None:
            raise LoraRefused(f"alpha {key!r} has no lora_A/lora_down beside it")
        out[down] = out[down] * (float(state[key].item()) / out[down].shape[0])
    return out


def check_shapes(state: dict[str, Any], shapes: dict[str, tuple[int, int]], base: str) -> int:
    """Every module's A (rank x in) and B (out x rank) against the Linear's (out, in) in
    `shapes`; the largest rank. LoraRefused naming the first module that does not fit."""
    modules: dict[str, dict[str, Any]] = {}
    for key, tensor in state.items():
        suffix = _A if key.endswith(_A) else _B if key.endswith(_B) else None
        if suffix is None or not key.startswith(_PREFIX):
            raise LoraRefused(f"tensor {key!r} is not a LoRA weight of a transformer layer")
        modules.setdefault(key[len(_PREFIX):-len(suffix)], {})[suffix] = tensor
    rank = 0
    for module, pair in sorted(modules.items()):
        if set(pair) != {_A, _B}:
            raise LoraRefused(f"layer {module!r} has only one of lora_A and lora_B")
        a, b = pair[_A], pair[_B]
        if module not in shapes:
            raise LoraRefused(f"layer {module!r} is not a Linear of the {base} transformer "
                              "(a LoRA for another model?)")
        out_features, in_features = shapes[module]
        if (a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[1]
                or a.shape[1] != in_features or b.shape[0] != out_features):
            raise LoraRefused(
                f"layer {module!r} does not fit {base}: the LoRA has A {tuple(a.shape)} and B "
                f"{tuple(b.shape)}, the transformer's Linear is {out_features}x{in_features} "
                "(out x in) -- a LoRA for another base?")
        rank = max(rank, int(a.shape[0]))
    return rank


_shapes: dict[str, dict[str, tuple[int, int]]] = {}
_shapes_lock = threading.Lock()


_import_lock = threading.Lock()


def _import_diffusers() -> None:
    """diffusers' FLUX.2 parts, imported by one thread at a time: concurrent first imports of
    its lazy modules (and peft's, transformers') can fail half-initialised."""
    with _import_lock:
        from diffusers import Flux2Transformer2DModel  # noqa: F401
        from diffusers.loaders import lora_conversion_utils  # noqa: F401


def transformer_shapes(source: str) -> dict[str, tuple[int, int]]:
    """Module name -> (out, in) of every Linear of the FLUX.2 transformer at `source` (a hub id
    or directory holding transformer/config.json), built on the meta device: no weights are
    read, so this is as cheap for a 9B as for the dev set. Cached per source."""
    with _shapes_lock:
        if source in _shapes:
            return _shapes[source]
    _import_diffusers()
    import torch
    from diffusers import Flux2Transformer2DModel

    config = Flux2Transformer2DModel.load_config(source, subfolder="transformer")
    with torch.device("meta"):
        model = Flux2Transformer2DModel.from_config(config)
    shapes = {name: (m.out_features, m.in_features) for name, m in model.named_modules()
              if isinstance(m, torch.nn.Linear)}
    with _shapes_lock:
        _shapes[source] = shapes
    return shapes


def prepare(path: Path, out: Path, shapes: dict[str, tuple[int, int]], base: str
            ) -> PreparedLora:
    """Check the upload at `path` for `base` and write it to `out` in diffusers' layout (its
    adapter metadata kept where keys are unchanged). LoraRefused when it cannot be served."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    header = read_header(path)
    layout = detect_layout(k for k in header if k != "__metadata__")
    _import_diffusers()
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise LoraRefused(f"the safetensors file does not load: {_short(exc)}") from None
    converted = to_diffusers(state, layout)
    if not converted:
        raise LoraRefused("the file has no transformer LoRA layers")
    rank = check_shapes(converted, shapes, base)
    # diffusers keeps peft's lora_alpha in the header's metadata: valid while the keys stay.
    metadata = header.get("__metadata__") if layout == "diffusers" else None
    kept = {k: str(v) for k, v in (metadata or {}).items()}
    # clone: converters give q, k and v one shared A, which save_file refuses.
    save_file({k: v.clone().contiguous() for k, v in converted.items()}, str(out),
              metadata={**kept, "fluxhost_source_layout": layout})
    return PreparedLora(layout, rank, len(converted) // 2, out.stat().st_size)


def _few(state: dict[str, Any]) -> str:
    keys = sorted(state)
    return ", ".join(repr(k) for k in keys[:3]) + (f" (+{len(keys) - 3} more)"
                                                   if len(keys) > 3 else "")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."
