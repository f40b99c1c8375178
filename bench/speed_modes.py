"""Speed modes against none on the dev set, in one run (issue 20 item 2).

    .venv/bin/python bench/speed_modes.py [--rounds 5] [--steps 8] [--size 256] [--kind base]

One Engine per mode on the dev model set (FLUXHOST_MODELS empty), the same request in each:
First Block Cache at two thresholds, regional compile (after its warm-up call, which is timed
apart), compile with the cache, and every attention backend that runs on this device
(fluxhost.engine.speed.backend_problem says which). The modes take turns, round after round,
so a machine shared with other work slows them alike; the table gives each mode's median
seconds per step (generation time / steps: text encoding and VAE decode included, as a client
sees it), its ratio to none's, and its PSNR against none's image.

The dev set's transformer is tiny (one double and two single blocks, 32 wide): Python and
framework overhead dominates its steps, so these ratios say what each mode costs or saves in
overhead here, not what it does to a 12 B transformer's FLOPs (bench/real_size.py is for that,
on a GPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

BACKENDS = ("_native_math", "_native_flash", "_native_efficient", "_native_cudnn", "flex",
            "flash", "sage", "xformers")


def modes(device: Any, dtype: Any) -> dict[str, dict[str, Any]]:
    """Mode label -> the settings that turn it on (none: the defaults)."""
    from fluxhost.engine import speed

    found: dict[str, dict[str, Any]] = {
        "none": {},
        "fbc 0.2": {"first_block_cache": 0.2},
        "fbc 0.4": {"first_block_cache": 0.4},
    }
    if speed.compile_problem(device) is None:
        found["compile"] = {"compile": True}
        found["compile + fbc 0.4"] = {"compile": True, "first_block_cache": 0.4}
    for backend in BACKENDS:
        if speed.backend_problem(backend, device, dtype) is None:
            found[f"attention {backend}"] = {"attention_backend": backend}
    return found


def psnr(a: Any, b: Any) -> float:
    import numpy as np

    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--kind", default="base", help="a FLUX.1 kind of the dev set (FBC does "
                   "not run on FLUX.2's pipelines)")
    args = p.parse_args()

    from fluxhost.engine import Engine, TextToImage
    from fluxhost.engine.modelset import torch_device, torch_dtype
    from fluxhost.settings import Settings

    data = Path(tempfile.mkdtemp(prefix="fluxhost-speed-"))
    base = Settings(_env_file=None, data_dir=data, models={})  # type: ignore[call-arg]
    device, dtype = torch_device(base), torch_dtype(base)
    request = TextToImage("a lighthouse at dusk", args.size, args.size, args.steps, 3.5, 0,
                          kind=args.kind)
    engines: dict[str, Engine] = {}
    warm: dict[str, float] = {}
    for label, values in modes(device, dtype).items():
        engines[label] = Engine(base.model_copy(update=values))
        start = time.perf_counter()
        engines[label].run(request)  # load, and compile where it does
        warm[label] = time.perf_counter() - start
    times: dict[str, list[float]] = {label: [] for label in engines}
    images: dict[str, Any] = {}
    for _ in range(args.rounds):
        for label, engine in engines.items():
            start = time.perf_counter()
            images[label] = engine.run(request)
            times[label].append((time.perf_counter() - start) / args.steps)
    print(f"dev set, kind {args.kind}, {args.size}x{args.size}, {args.steps} steps, {device} "
          f"{dtype}, median of {args.rounds} rounds (first call apart: load + compile)")
    print("| mode | first call s | s/step | ratio to none | PSNR vs none |")
    print("|---|---|---|---|---|")
    none = statistics.median(times["none"])
    for label, samples in times.items():
        step = statistics.median(samples)
        quality = psnr(images["none"], images[label])
        shown = "identical" if quality == float("inf") else f"{quality:.1f} dB"
        print(f"| {label} | {warm[label]:.2f} | {step * 1000:.1f} ms | {step / none:.2f} | "
              f"{shown} |")


if __name__ == "__main__":
    main()
