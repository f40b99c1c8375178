"""Speed modes of a loaded pipeline (issue 20): the attention backend, regional torch.compile of
the transformer's repeated blocks, and First Block Cache (diffusers' cache hooks). Each is off by
default (fluxhost.modes.KindModes); `apply` runs once per load, after the pipeline is on its
device; `refusal` says before anything loads which of them cannot run here.

Order matters and is fixed here: the attention backend is set before the blocks are compiled (a
compiled graph keeps the backend it traced), and each block's own `forward` is compiled before
the cache hooks wrap it, so the hooks' per-step decision (a host sync, `.item()`) stays outside
the compiled graph and both modes work together. Compiling `forward` rather than the module
(`compile_repeated_blocks`) is what allows that: diffusers' hooks replace `forward`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fluxhost.kinds import FLUX2_PIPELINES
from fluxhost.modes import KindModes

if TYPE_CHECKING:
    import torch

# The pipelines whose transformer diffusers' First Block Cache cannot follow (0.42, measured on
# the dev set): FLUX.2's last block is a single-stream one over text and image tokens together,
# and the cache hook subtracts the first (double-stream) block's output pair from its single
# output (TypeError at the first step).
NO_FIRST_BLOCK_CACHE = frozenset(FLUX2_PIPELINES)
# The attention backend the models use when none is set (diffusers' default).
DEFAULT_BACKEND = "native"
# C++ compilers torch inductor can build CPU kernels with ($CXX first).
CPU_COMPILERS = ("g++", "clang++", "c++")


def apply(pipe: Any, modes: KindModes) -> None:
    """Put `modes`' speed modes on `pipe`'s transformer (a pipeline without one, Redux, has
    nothing to speed up). Called once per loaded pipeline."""
    transformer = getattr(pipe, "transformer", None)
    if transformer is None:
        return
    if modes.attention_backend != DEFAULT_BACKEND:
        set_backend(transformer, modes.attention_backend)
    if modes.compile:
        compile_blocks(transformer)
    if modes.first_block_cache > 0:
        from diffusers import FirstBlockCacheConfig

        transformer.enable_cache(FirstBlockCacheConfig(threshold=modes.first_block_cache))


def set_backend(model: Any, backend: str) -> None:
    """Attention `backend` on `model`'s own attention processors, and nowhere else. diffusers'
    set_attention_backend also makes it the process-wide active backend, which every model
    whose processors name none runs (all the others: native is never set): one kind's backend
    became every kind's, and a start-up probe of flex left training's backward on flex, which
    has none on CPU (NotImplementedError). The process-wide one is put back."""
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    active = _AttentionBackendRegistry._active_backend
    try:
        model.set_attention_backend(backend)
    finally:
        _AttentionBackendRegistry.set_active_backend(active)


def repeated_blocks(transformer: Any) -> list[Any]:
    """The transformer's repeated blocks (diffusers' `_repeated_blocks` class names), in order."""
    names = set(getattr(transformer, "_repeated_blocks", None) or ())
    return [m for m in transformer.modules() if type(m).__name__ in names]


def compile_blocks(transformer: Any) -> None:
    """Regional compile: each repeated block's `forward` through torch.compile, with dynamic
    shapes, so one warm-up serves every image size (no recompile per size)."""
    import torch

    blocks = repeated_blocks(transformer)
    if not blocks:
        raise ValueError(f"{type(transformer).__name__} names no repeated blocks to compile")
    for block in blocks:
        block.forward = torch.compile(block.forward, fullgraph=True, dynamic=True)


def caches(pipe: Any) -> bool:
    """Whether `pipe`'s transformer has a cache hook (First Block Cache) on."""
    transformer = getattr(pipe, "transformer", None)
    return getattr(transformer, "_cache_config", None) is not None


@contextmanager
def generation(pipe: Any) -> Iterator[None]:
    """Around one pipeline call: a cached transformer starts from an empty cache (a generation
    stopped midway leaves its last residuals behind) and runs in a cache context, which only
    FluxPipeline and the klein pipeline open themselves (the fill, control, Kontext and FLUX.2
    [dev] pipelines call their transformer without one, and the hooks need one)."""
    if not caches(pipe):
        yield
        return
    from diffusers.hooks import HookRegistry

    transformer = pipe.transformer
    HookRegistry.check_if_exists_or_initialize(transformer).reset_stateful_hooks(recurse=True)
    with transformer.cache_context("cond"):
        yield


# --- what cannot run here ----------------------------------------------------------------

def refusal(kind: str, pipeline: str, modes: KindModes, device: torch.device,
            dtype: torch.dtype, which: Callable[[str], str | None] = shutil.which) -> str | None:
    """Why `kind`'s speed modes cannot run on `device` (one line naming the kind and the mode),
    or None when they can. The attention backend is tried for real on a tiny model."""
    if modes.first_block_cache > 0 and pipeline in NO_FIRST_BLOCK_CACHE:
        return (f"kind {kind!r}: first_block_cache={modes.first_block_cache:g} cannot run on "
                f"the FLUX.2 {pipeline} pipeline: diffusers' cache hook does not follow its "
                "single-stream last block; set it to 0")
    if modes.compile:
        why = compile_problem(device, which)
        if why is not None:
            return f"kind {kind!r}: compile=true cannot run here: {why}"
    if modes.attention_backend != DEFAULT_BACKEND:
        why = backend_problem(modes.attention_backend, device, dtype)
        if why is not None:
            return f"kind {kind!r}: attention_backend={modes.attention_backend} cannot run " \
                   f"here: {why}"
    return None


def compile_problem(device: torch.device,
                    which: Callable[[str], str | None] = shutil.which) -> str | None:
    """What torch inductor lacks on `device`: a C++ compiler on CPU, triton on CUDA."""
    if device.type == "cpu":
        wanted = [os.environ["CXX"]] if os.environ.get("CXX") else list(CPU_COMPILERS)
        if not any(which(name) for name in wanted):
            return (f"torch.compile on CPU builds C++ kernels and no compiler was found "
                    f"({', '.join(wanted)}): install one (e.g. apt-get install g++) or set "
                    "compile to false")
    elif device.type == "cuda" and importlib.util.find_spec("triton") is None:
        return "torch.compile on CUDA needs the triton package (pip install triton)"
    return None


def backend_problem(backend: str, device: torch.device, dtype: torch.dtype) -> str | None:
    """Why attention `backend` does not run on `device` in `dtype`: set on a tiny FLUX
    transformer there (diffusers checks the backend's package) and run once (the kernel
    exists for this device and dtype). None when it ran."""
    import torch

    try:
        with torch.random.fork_rng(devices=[]):  # its random init leaves the caller's RNG be
            model = probe_model()
        model = model.to(device=device, dtype=dtype)
        set_backend(model, backend)
        with torch.no_grad():
            model(**probe_inputs(device, dtype))
    except Exception as exc:  # any failure is the reason; its first line says it
        lines = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"
    return None


# A FLUX.1 transformer of one block each, with FLUX's head size (128), which kernels check.
_PROBE_HEAD_DIM = 128


def probe_model() -> Any:
    from diffusers import FluxTransformer2DModel

    model: Any = FluxTransformer2DModel(
        patch_size=1, in_channels=4, out_channels=4, num_layers=1, num_single_layers=1,
        attention_head_dim=_PROBE_HEAD_DIM, num_attention_heads=1, joint_attention_dim=8,
        pooled_projection_dim=8, guidance_embeds=False, axes_dims_rope=(16, 56, 56),
    )
    return model.eval()


def probe_inputs(device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    import torch

    tokens, text = 4, 2
    return {
        "hidden_states": torch.zeros(1, tokens, 4, device=device, dtype=dtype),
        "encoder_hidden_states": torch.zeros(1, text, 8, device=device, dtype=dtype),
        "pooled_projections": torch.zeros(1, 8, device=device, dtype=dtype),
        "timestep": torch.ones(1, device=device, dtype=dtype),
        "img_ids": torch.zeros(tokens, 3, device=device),
        "txt_ids": torch.zeros(text, 3, device=device),
        "return_dict": False,
    }
