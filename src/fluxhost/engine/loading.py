"""Load one pipeline kind from a hub id or a local directory with the stock diffusers classes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fluxhost.engine._hf import quiet_progress

if TYPE_CHECKING:
    import torch

# Pipeline kind -> diffusers class name (resolved lazily so importing this module stays cheap).
PIPELINE_CLASSES: dict[str, str] = {
    "base": "FluxPipeline",
    "fill": "FluxFillPipeline",
    "canny": "FluxControlPipeline",
    "depth": "FluxControlPipeline",
    "redux": "FluxPriorReduxPipeline",
}


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


def load_pipeline(kind: str, source: str, *, dtype: torch.dtype, device: torch.device) -> Any:
    """from_pretrained + to(device). Local dirs load with local_files_only=True; hub ids go
    through the normal hub cache, so users with internet get e.g. FLUX.1-dev."""
    import diffusers

    try:
        cls = getattr(diffusers, PIPELINE_CLASSES[kind])
    except KeyError:
        raise ValueError(f"unknown pipeline kind {kind!r}") from None
    path = local_dir(source)
    with quiet_progress():
        if path is not None:
            pipe = cls.from_pretrained(path, dtype=dtype, local_files_only=True)
        else:
            pipe = cls.from_pretrained(source, dtype=dtype)
    pipe = pipe.to(device)
    # The engine reports progress through its own callback; tqdm would only clutter logs.
    pipe.set_progress_bar_config(disable=True)
    return pipe
