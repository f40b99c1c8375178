"""Load one pipeline kind from a hub id or a local directory with the stock diffusers classes.

Which class loads a pipeline, and which of its components are shared with the other pipelines
of its model family, is the families' to say (fluxhost.engine.families.pipeline_spec; FLUX.1's
sharing: fluxhost.engine.families.flux1.common).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fluxhost.engine import speed
from fluxhost.engine.demo import pipeline_class
from fluxhost.engine.families import pipeline_spec
from fluxhost.engine.hf import quiet_progress
from fluxhost.engine.loaderrors import (
    PIPELINE_INDEX,
    ModelLoadError,
    check_local_layout,
    load_error,
    missing_directory,
)
from fluxhost.engine.quantize import load_kwargs

if TYPE_CHECKING:
    import torch

    from fluxhost.engine.families.protocol import PipelineSpec
    from fluxhost.modes import KindModes

log = logging.getLogger(__name__)


def local_dir(source: str) -> Path | None:
    """The directory `source` names, None for a hub id; FileNotFoundError for a path that does
    not exist (rather than letting it fall through to a confusing hub lookup)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    looks_like_path = source.startswith(("/", ".", "~")) or "\\" in source or source.count("/") > 1
    if looks_like_path:
        raise FileNotFoundError(f"model directory {source!r} does not exist")
    return None


def is_local_source(source: str) -> bool:
    try:
        return local_dir(source) is not None
    except FileNotFoundError:
        return True


def load_pipeline(
    kind: str,
    source: str,
    *,
    dtype: torch.dtype,
    device: torch.device,
    shared: Mapping[str, Any] | None = None,
    cpu_offload: str = "none",
    pipeline: str | None = None,
    modes: KindModes | None = None,
    device_map: str = "none",
) -> Any:
    """from_pretrained + to(device) of the diffusers class of `pipeline` (default: the built-in
    kind `kind` names; an operator-defined kind names its pipeline). Local dirs load with
    local_files_only=True; hub ids go through the normal hub cache, so users with internet get
    e.g. FLUX.1-dev.

    `shared`: already loaded components (the pipeline's PipelineSpec.shared) to use instead of
    loading the pipeline's own; those the pipeline class does not take are ignored.

    `modes`: the kind's memory modes (quantized transformer and text encoders, a gguf
    transformer; fluxhost.engine.quantize), checked to be runnable beforehand.
    `device_map` "balanced": the pipeline's components placed across the visible GPUs by
    diffusers (a model set larger than one card), instead of all on `device`.

    Any failure is raised as ModelLoadError naming kind, source and likely cause (the original
    exception chained as its __cause__).
    """
    import diffusers

    try:
        class_name = pipeline_spec(pipeline or kind).class_name
    except ValueError:
        raise ValueError(f"unknown pipeline {pipeline or kind!r} (kind {kind!r})") from None
    # A set's manifest may load the pipeline with another class (emoji64's fill: inpainting
    # on its text-to-image weights); fluxhost.engine.demo.
    class_name = pipeline_class(source, pipeline or kind) or class_name
    cls = getattr(diffusers, class_name, None)
    if cls is None:
        raise ValueError(f"kind {kind!r} ({source}): diffusers has no class {class_name!r}")
    try:
        return _load(cls, kind, source, dtype=dtype, device=device, shared=shared,
                     cpu_offload=cpu_offload, modes=modes, device_map=device_map)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise load_error(kind, source, exc) from exc


def resolve_local(kind: str, source: str, marker: str) -> Path | None:
    """`local_dir(source)`, with a missing directory or one without `marker` (the file that
    makes it loadable) raised as ModelLoadError."""
    try:
        path = local_dir(source)
    except FileNotFoundError:
        raise missing_directory(kind, source) from None
    if path is not None:
        check_local_layout(kind, source, path, marker)
    return path


def _load(
    cls: Any,
    kind: str,
    source: str,
    *,
    dtype: torch.dtype,
    device: torch.device,
    shared: Mapping[str, Any] | None,
    cpu_offload: str,
    modes: KindModes | None = None,
    device_map: str = "none",
) -> Any:
    accepted = inspect.signature(cls.__init__).parameters
    reuse = {name: comp for name, comp in (shared or {}).items() if name in accepted}
    path = resolve_local(kind, source, PIPELINE_INDEX)
    with quiet_progress():
        # Quantized loading: only what this pipeline loads itself (not the reused parts).
        reuse |= load_kwargs(modes, components=[n for n in accepted if n not in reuse],
                             source=str(path or source), local=path is not None, dtype=dtype)
        if device_map != "none":  # across the GPUs as it loads: no .to(device) after
            reuse["device_map"] = device_map
        if path is not None:
            pipe = cls.from_pretrained(path, dtype=dtype, local_files_only=True, **reuse)
        else:
            pipe = cls.from_pretrained(source, dtype=dtype, **reuse)
    if device_map == "none":
        pipe = _place(pipe, device, cpu_offload)
    # The engine reports progress through its own callback; tqdm would only clutter logs.
    pipe.set_progress_bar_config(disable=True)
    if modes is not None:  # on the device's weights: compiled and hooked where they run
        speed.apply(pipe, modes)
    return pipe


def _place(pipe: Any, device: torch.device, cpu_offload: str) -> Any:
    if cpu_offload != "none" and device.type == "cuda":
        # Offloading places each model on the GPU only while it runs; no .to(device) first.
        if cpu_offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.enable_sequential_cpu_offload(device=device)
        return pipe
    if cpu_offload != "none":
        log.warning("cpu_offload=%s needs a CUDA device; running on %s without it",
                    cpu_offload, device)
    return pipe.to(device)


def shareable_components(pipe: Any, names: Iterable[str]) -> dict[str, Any]:
    """The components of `names` that `pipe` holds (a Redux pipeline from the hub holds none)."""
    found = {name: getattr(pipe, name, None) for name in names}
    return {name: comp for name, comp in found.items() if comp is not None}


def share_keys(spec: PipelineSpec, source: str) -> dict[str, str]:
    """Component name -> the key it is shared under, for the components of `spec.shared` that
    `source`'s pipeline may share: its group for those shared by name, the group and a digest of
    the identifying config for the others (PipelineSpec.identified_by). A component whose config
    cannot be read is left out: then it is neither reused nor offered, only loaded."""
    folders = dict(spec.identified_by)
    keys: dict[str, str] = {}
    for name in spec.shared:
        folder = folders.get(name)
        if folder is None:
            keys[name] = spec.group
            continue
        digest = config_digest(source, folder)
        if digest is not None:
            keys[name] = f"{spec.group}:{folder}:{digest}"
    return keys


# Config entries that say how a file was written, not what model it holds.
_CONFIG_NOISE = ("transformers_version", "dtype", "torch_dtype")


def config_digest(source: str, folder: str) -> str | None:
    """A digest of `folder/config.json` of a local directory or hub repository (without the
    entries that only say how it was written), or None if it cannot be read."""
    try:
        text = _read_config(source, f"{folder}/config.json")
        config = json.loads(text)
    except Exception:  # any failure only means "do not share"; the load reports real problems
        return None
    if not isinstance(config, dict):
        return None
    kept = {k: v for k, v in config.items() if not k.startswith("_") and k not in _CONFIG_NOISE}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def _read_config(source: str, filename: str) -> str:
    path = local_dir(source)
    if path is not None:
        return (path / filename).read_text()
    from huggingface_hub import hf_hub_download

    # The file from_pretrained downloads next anyway; offline, the cached copy.
    return Path(hf_hub_download(source, filename)).read_text()
