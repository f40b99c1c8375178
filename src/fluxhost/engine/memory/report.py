"""The memory plan of a Settings on this machine: each configured kind's components in its
modes (from a local directory's configs, else the published configs of its model), the total
against the device, advice; as lines for `fluxhost doctor` and the start-up log."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fluxhost.engine.memory.advice import advice, multi_gpu
from fluxhost.engine.memory.params import count, local_models
from fluxhost.engine.memory.plan import (
    WORKING_BYTES,
    Device,
    Part,
    fmt,
    gguf_bits,
    need_on_device,
    unique,
)
from fluxhost.engine.memory.published import HUB_IDS, KIND_MODELS, Published
from fluxhost.kinds import BUILTIN_KINDS

if TYPE_CHECKING:
    from fluxhost.modes import KindModes
    from fluxhost.settings import Settings

# A custom kind on an unknown hub id is planned as the published model of its pipeline.
PIPELINE_MODEL = {**{p: p for p in ("base", "fill", "canny", "depth", "kontext", "redux")},
                  "flux2": "flux2-dev", "klein": "klein-4b", "klein-kv": "klein-9b-kv"}
SHARED_PREFIXES = ("text_encoder", "vae", "image_encoder")


@dataclass(frozen=True)
class KindPlan:
    kind: str
    parts: tuple[Part, ...]
    assumed: str | None  # which published model stood in for an unknown hub id


def kind_plan(kind: str, pipeline: str, source: str, modes: KindModes,
              dtype_bytes: int) -> KindPlan:
    models, assumed = _models(kind, pipeline, source)
    parts = tuple(_part(kind, name, model, modes, dtype_bytes) for name, model in models.items())
    return KindPlan(kind, parts, assumed)


def _models(kind: str, pipeline: str, source: str) -> tuple[dict[str, Published], str | None]:
    path = Path(source).expanduser()
    if (path / "model_index.json").is_file():
        return local_models(path), None
    if source in HUB_IDS:
        return KIND_MODELS[HUB_IDS[source]], None
    reference = kind if kind in BUILTIN_KINDS else PIPELINE_MODEL[pipeline]
    models = KIND_MODELS[reference]
    return models, f"{source}: planned as {models[next(iter(models))].label.split(' ')[0]}"


def _part(kind: str, name: str, model: Published, modes: KindModes, dtype_bytes: int) -> Part:
    numbers = count(model)
    quant, file_bytes = "none", None
    if name == "transformer":
        quant = modes.transformer_quant
        if modes.gguf is not None:
            quant, file_bytes = "gguf", _gguf_bytes(modes.gguf, numbers.total)
    elif name.startswith("text_encoder"):
        quant = modes.text_encoder_quant
    digest = hashlib.sha256(json.dumps([model.class_name, model.config], sort_keys=True,
                                       default=list).encode()).hexdigest()[:12]
    shared = name.startswith(SHARED_PREFIXES)
    share = f"{name}:{digest}:{quant}" if shared else f"{kind}:{name}"
    return Part(kind, name, model.label, numbers, quant, share, dtype_bytes, file_bytes)


def _gguf_bytes(gguf: str, params: int) -> int:
    path = Path(gguf).expanduser()
    if path.is_file():
        return path.stat().st_size
    bits = gguf_bits(path.name) or 8.5  # an unnamed type: planned as Q8_0
    return round(params * bits / 8)


def settings_plan(settings: Settings) -> list[KindPlan]:
    from fluxhost.engine.modelset import configured_kinds, resolve_model_set, torch_dtype

    sources = resolve_model_set(settings)
    dtype_bytes = torch_dtype(settings).itemsize
    return [kind_plan(kind, settings.kind_pipeline(kind) or kind, sources[kind],
                      settings.modes_for(kind), dtype_bytes)
            for kind in sorted(configured_kinds(settings))]


def machine_devices(settings: Settings) -> list[Device]:
    """The configured device first, then the other GPUs: CUDA memory from mem_get_info, the
    machine's RAM for the CPU."""
    import torch

    from fluxhost.engine.modelset import torch_device

    device = torch_device(settings)
    if device.type != "cuda":
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return [Device("cpu", ram, cuda=False, float8=True)]
    first = device.index or 0
    order = [first, *(i for i in range(torch.cuda.device_count()) if i != first)]
    return [_gpu(i) for i in order]


def _gpu(index: int) -> Device:
    import torch

    _free, total = torch.cuda.mem_get_info(index)
    major, minor = torch.cuda.get_device_capability(index)
    return Device(f"cuda:{index}", total, cuda=True, float8=(major, minor) >= (8, 9))


def plan_lines(plans: list[KindPlan], devices: list[Device], offload: str,
               dtype_name: str) -> tuple[list[str], bool]:
    """The plan as lines, and whether it fits the first device."""
    device = devices[0]
    lines = [f"memory plan: {device.name}, {fmt(device.total)}; weights in {dtype_name}"]
    seen: set[str] = set()
    for plan in plans:
        shown = []
        for p in plan.parts:
            again = " (shared)" if p.share in seen else ""
            seen.add(p.share)
            shown.append(f"{p.label} {p.quant} {fmt(p.bytes)}{again}")
        lines.append(f"  {plan.kind}: " + ", ".join(shown))
        if plan.assumed:
            lines.append(f"    ({plan.assumed})")
    parts = [p for plan in plans for p in plan.parts]
    mode = offload if device.cuda else "none"
    need = need_on_device(parts, mode)
    weights = sum(p.bytes for p in unique(parts))
    lines.append(f"  total {fmt(weights)} of weights + {fmt(WORKING_BYTES)} working memory "
                 f"(cpu_offload={mode}): {fmt(need)} on {device.name} of {fmt(device.total)}")
    told = advice(parts, device, offload)
    lines.append(f"  does not fit: {told}" if told else "  fits")
    gpus = [d for d in devices if d.cuda]
    spread = multi_gpu(parts, gpus)
    if spread:
        lines.append(f"  {spread}")
    return lines, told is None


def report(settings: Settings) -> tuple[list[str], bool]:
    """`settings`' plan on this machine: lines and whether it fits."""
    from fluxhost.engine.modelset import torch_dtype

    dtype = str(torch_dtype(settings)).removeprefix("torch.")
    return plan_lines(settings_plan(settings), machine_devices(settings),
                      settings.cpu_offload, dtype)
