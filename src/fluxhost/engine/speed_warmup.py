"""The warm-up generation of a compiled kind (issue 20 item 2): one tiny request of the type its
pipeline runs, made before /ready turns 200, so torch.compile's first-call compile (tens of
seconds on CPU, minutes at real size) is not paid by a client's task. The blocks compile with
dynamic shapes (fluxhost.engine.speed.compile_blocks), so this one size serves every size.

Torch-free: the worker builds these requests; the engine runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fluxhost.engine.types import Control, Fill, Flux2, Kontext, Request, TextToImage
from fluxhost.kinds import AUXILIARY_PIPELINES, FLUX2_PIPELINES

# Small (a real model's step at 256x256 is a fraction of its 1 MP one) but several patches wide,
# a multiple of every pipeline's size step; one denoising step compiles every block.
WARMUP_SIZE = 256
WARMUP_STEPS = 1
WARMUP_PROMPT = "warm-up"


def compiled_kinds(kinds: Iterable[str], pipeline_of: Callable[[str], str | None],
                   compiles: Callable[[str], bool]) -> list[tuple[str, Request]]:
    """The warm-up of each of `kinds` (sorted) whose modes compile: (kind, request). Redux
    (no transformer) and kinds of no known pipeline have nothing to warm up."""
    found = []
    for kind in sorted(kinds):
        pipeline = pipeline_of(kind)
        if pipeline is not None and pipeline not in AUXILIARY_PIPELINES and compiles(kind):
            found.append((kind, warmup_request(kind, pipeline)))
    return found


def warmup_request(kind: str, pipeline: str) -> Request:
    """A one-step WARMUP_SIZE request for `kind`, which runs `pipeline`; inputs it needs are
    mid-grey images (a fill repaints all of it; a control image is used as given)."""
    from PIL import Image

    size, steps, prompt = WARMUP_SIZE, WARMUP_STEPS, WARMUP_PROMPT
    grey = Image.new("RGB", (size, size), (128, 128, 128))
    if pipeline == "base":
        return TextToImage(prompt, size, size, steps, 3.5, 0, kind=kind)
    if pipeline == "fill":
        mask = Image.new("L", (size, size), 255)
        return Fill(prompt, grey, mask, size, size, steps, 30.0, 0, kind=kind)
    if pipeline in ("canny", "depth"):
        return Control(kind, prompt, grey, size, size, steps, 10.0, 0, preprocessed=True)
    if pipeline == "kontext":
        return Kontext(prompt, (), size, size, steps, 2.5, 0, kind=kind)
    if pipeline in FLUX2_PIPELINES:
        return Flux2(prompt, (), size, size, steps, 4.0, 0, kind=kind)
    raise ValueError(f"no warm-up request for pipeline {pipeline!r} (kind {kind!r})")
