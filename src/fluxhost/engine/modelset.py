"""Which pipelines this server runs, and on what device and dtype."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fluxhost.engine.devmodels import DEV_KINDS, ensure_dev_model_set
from fluxhost.engine.families import pipeline_names
from fluxhost.kinds import DEPTH_ESTIMATOR_KEY

if TYPE_CHECKING:
    import torch

    from fluxhost.settings import Settings

# Turns control images into depth maps for the depth pipeline when real models are configured:
# BFL trained FLUX.1-Depth on Depth Anything maps. Override with a "depth_estimator" entry in
# FLUXHOST_MODELS (hub id or local dir of a transformers depth-estimation model).
DEFAULT_DEPTH_ESTIMATOR = "depth-anything/Depth-Anything-V2-Small-hf"
# What the engine says of itself on the dev model set (no models configured).
DEV_MODEL_WARNING = (
    "fluxhost is running the DEV MODEL SET: tiny FLUX-family pipelines with RANDOM weights. "
    "Every image it generates is noise. Set FLUXHOST_MODELS (e.g. "
    '\'{"base": "black-forest-labs/FLUX.1-dev"}\') to serve real models.'
)


def dev_model_root(settings: Settings) -> Path:
    return settings.dev_model_dir or settings.data_dir / "models" / "dev"


def configured_kinds(settings: Settings) -> frozenset[str]:
    """The pipeline kinds this server can run (operator-defined ones included), without
    building or loading anything."""
    if not settings.models:
        return DEV_KINDS
    # Other entries (the depth estimator) are models, not pipelines.
    pipelines = pipeline_names()
    return frozenset(kind for kind in settings.models if settings.kind_pipeline(kind) in pipelines)


def resolve_model_set(settings: Settings) -> dict[str, str]:
    """Pipeline kind (or DEPTH_ESTIMATOR_KEY) -> hub id or local dir. With no models configured,
    builds (once) and returns the dev model set (DEV_MODEL_DIR, default DATA_DIR/models/dev).
    With a depth pipeline (of any kind), the depth estimator is the configured one or
    DEFAULT_DEPTH_ESTIMATOR."""
    if settings.models:
        sources = settings.model_sources()
        if any(settings.kind_pipeline(kind) == "depth" for kind in sources):
            sources.setdefault(DEPTH_ESTIMATOR_KEY, DEFAULT_DEPTH_ESTIMATOR)
        return sources
    paths = ensure_dev_model_set(dev_model_root(settings))
    return {kind: str(path) for kind, path in paths.items()}


def torch_device(settings: Settings) -> torch.device:
    import torch

    if settings.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(settings.device)


def torch_dtype(settings: Settings) -> torch.dtype:
    """'auto': bfloat16 on CUDA (what FLUX is trained and released in), float32 elsewhere
    (CPU bfloat16 matmuls are slow and half precision is unsupported for several CPU ops)."""
    import torch

    if settings.dtype == "auto":
        return torch.bfloat16 if torch_device(settings).type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
        settings.dtype
    ]
