"""FLUX.2's engine work on the dev model set.

    .venv/bin/python bench/flux2_engine.py [--repeat 5] [--steps 4] [--size 256]

Prints: the dev set's build (the whole set, and the four FLUX.2 builders alone); each FLUX.2
kind's cold start (its load in a fresh engine, nothing shared yet); per-step time (the slope
between 2 and 2 + steps steps, text to image); and a table of engine time per request by kind
and number of reference images (0, 1, 4; each size x size), min and median of `repeat` runs
after one warm-up. The dev set is random weights: these figures are the engine's and diffusers'
overhead on tiny models, not FLUX.2's speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

REFERENCES = (0, 1, 4)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def build_times(tmp: Path) -> tuple[float, float]:
    """(whole dev set, FLUX.2 builders alone) in seconds, libraries imported beforehand."""
    import diffusers  # noqa: F401  (imports are not the build's)
    import transformers  # noqa: F401
    from transformers import Mistral3ForConditionalGeneration, Qwen3ForCausalLM  # noqa: F401

    from fluxhost.engine.devmodels import ensure_dev_model_set
    from fluxhost.engine.devparts import DevParts
    from fluxhost.engine.families.flux2.dev import DEV_BUILDERS

    start = time.perf_counter()
    ensure_dev_model_set(tmp / "whole")
    whole = time.perf_counter() - start
    start = time.perf_counter()
    parts = DevParts()
    for kind, build in DEV_BUILDERS.items():
        build(tmp / "flux2" / kind, parts)
    return whole, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    size = args.size

    start = time.perf_counter()
    import numpy as np
    import torch
    from PIL import Image

    from fluxhost.engine import Engine, Flux2
    from fluxhost.engine.families.flux2.common import BUILTIN_KINDS
    from fluxhost.settings import Settings

    print(f"torch {torch.__version__}, {len(os.sched_getaffinity(0))} CPUs visible, "
          f"{torch.get_num_threads()} torch threads, load average "
          f"{os.getloadavg()[0]:.1f}; imports {(time.perf_counter() - start) * 1000:.0f} ms")
    rng = np.random.default_rng(0)

    def noise(w: int, h: int) -> Image.Image:
        return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))

    with tempfile.TemporaryDirectory() as tmp:
        whole, flux2 = build_times(Path(tmp))
        print(f"dev set build: whole set {whole * 1000:.0f} ms, the four FLUX.2 builders alone "
              f"{flux2 * 1000:.0f} ms (save_pretrained included)")
        settings = Settings(_env_file=None, data_dir=Path(tmp),  # type: ignore[call-arg]
                            dev_model_dir=Path(tmp) / "whole", models={})

        def request(kind: str, refs: int, steps: int) -> Flux2:
            return Flux2(prompt="a red fox in snow", references=tuple(
                noise(size, size) for _ in range(refs)), width=size, height=size, steps=steps,
                guidance=4.0, seed=1, kind=kind)

        print("cold start (load in a fresh engine):")
        for kind in BUILTIN_KINDS:
            loads = []
            for _ in range(3):
                fresh = Engine(settings)
                t = time.perf_counter()
                fresh.load(kind)
                loads.append(time.perf_counter() - t)
            print(f"  {kind:<12} min {ms(min(loads))} ms  median {ms(statistics.median(loads))} ms")

        engine = Engine(settings)
        print(f"per step, text to image at {size}x{size} (slope from 2 to {2 + args.steps} "
              "steps, min of runs):")
        for kind in BUILTIN_KINDS:
            few = min(timed(lambda k=kind: engine.run(request(k, 0, 2)), args.repeat))
            more = min(timed(lambda k=kind: engine.run(request(k, 0, 2 + args.steps)),
                             args.repeat))
            print(f"  {kind:<12} {ms((more - few) / args.steps)} ms/step  (2 steps: "
                  f"{ms(few).strip()} ms)")

        table: dict[str, dict[int, list[float]]] = {}
        for kind in BUILTIN_KINDS:
            table[kind] = {}
            for refs in REFERENCES:
                req = request(kind, refs, args.steps)
                table[kind][refs] = timed(lambda r=req: engine.run(r), args.repeat)
        print_table(table, size, args.steps)


def print_table(table: dict[str, dict[int, list[float]]], size: int, steps: int) -> None:
    print(f"engine time per request, {size}x{size}, {steps} steps, references {size}x{size} "
          "(min / median ms):")
    header = "".join(f"{f'{n} ref':>20}" for n in REFERENCES)
    print(f"  {'kind':<12}{header}")
    for kind, row in table.items():
        cells: list[Any] = [f"{ms(min(t)).strip()} / {ms(statistics.median(t)).strip()}"
                            for t in row.values()]
        print(f"  {kind:<12}" + "".join(f"{c:>20}" for c in cells))


if __name__ == "__main__":
    main()
