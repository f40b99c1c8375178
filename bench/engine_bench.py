"""Engine timings on the dev model set (or a configured base model with --base).

    .venv/bin/python bench/engine_bench.py [--repeat 5] [--no-large] [--device cpu]

Prints: import time, dev set build (cold/reuse), pipeline load, LoRA first apply,
text_to_image at 256x256/4 steps (without/with LoRA) and 1024x768/40 steps (the API default size),
and on the dev set fill, canny, depth and a Redux image prompt at 256x256/4 steps.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(label: str, seconds: list[float]) -> None:
    med = statistics.median(seconds)
    low = min(seconds) * 1000
    print(f"{label:<52} median {med * 1000:8.1f} ms  (min {low:.1f}, n={len(seconds)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-large", action="store_true", help="skip 1024x768 / 40 steps")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--base", help="hub id or dir of a real base model instead of the dev set")
    args = parser.parse_args()

    start = time.perf_counter()
    import diffusers  # noqa: F401
    import torch

    print(
        f"torch {torch.__version__}, {len(os.sched_getaffinity(0))} CPUs visible, "
        f"{torch.get_num_threads()} torch threads, cuda={torch.cuda.is_available()}"
    )
    report("import torch + diffusers", [time.perf_counter() - start])

    start = time.perf_counter()
    from diffusers import AutoencoderKL, FluxPipeline, FluxTransformer2DModel  # noqa: F401
    from transformers import CLIPTextModel, T5EncoderModel  # noqa: F401

    report("import pipeline/model classes (lazy modules)", [time.perf_counter() - start])

    from fluxhost.engine import Engine, LoraSpec, TextToImage
    from fluxhost.engine.devmodels import ensure_dev_model_set
    from fluxhost.engine.families.flux1.dev import make_dev_lora
    from fluxhost.settings import Settings

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        report(
            "dev set build (cold, first in process)",
            [timed(lambda: ensure_dev_model_set(tmp / "cold"))],
        )
        report(
            "dev set build (fresh dir, warm process)",
            [timed(lambda i=i: ensure_dev_model_set(tmp / f"warm{i}")) for i in range(3)],
        )
        report(
            "dev set reuse (marker present)",
            [timed(lambda: ensure_dev_model_set(tmp / "cold")) for _ in range(3)],
        )

        models = {"base": args.base} if args.base else {}
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=tmp / "data",
            models=models,
            device=args.device,
            dtype=args.dtype,
        )
        engine = Engine(settings)
        report(
            "Engine.load('base') (build dev set + from_pretrained)",
            [timed(lambda: engine.load("base"))],
        )
        base_dir = Path(engine.model_sources()["base"])
        report(
            "from_pretrained of the saved dir (fresh Engine)",
            [timed(lambda: Engine(settings).load("base")) for _ in range(3)],
        )

        def t2i(width: int, height: int, steps: int, lora: LoraSpec | None = None) -> float:
            req = TextToImage("a photo of a cat", width, height, steps, 3.5, 0, lora)
            return timed(lambda: engine.run(req))

        t2i(256, 256, 4)  # warm-up
        report("text_to_image 256x256 4 steps", [t2i(256, 256, 4) for _ in range(args.repeat)])
        if not args.base:
            lora_file = make_dev_lora(base_dir, tmp / "lora.safetensors")
            lora = LoraSpec("bench", lora_file, 1.0)
            report("  + LoRA, first use (load + set_adapters)", [t2i(256, 256, 4, lora)])
            report("  + LoRA, cached", [t2i(256, 256, 4, lora) for _ in range(args.repeat)])
            report(
                "  back to no LoRA (disable_lora)", [t2i(256, 256, 4) for _ in range(args.repeat)]
            )
        if not args.base:
            bench_other_kinds(engine, args.repeat)
        if not args.no_large:
            report("text_to_image 1024x768 40 steps", [t2i(1024, 768, 40) for _ in range(2)])
            steps: list[float] = []

            def on_step(done: int, total: int) -> None:
                steps.append(time.perf_counter())

            req = TextToImage("a photo of a cat", 1024, 768, 40, 3.5, 0)
            begin = time.perf_counter()
            engine.run(req, on_step=on_step)
            end = time.perf_counter()
            per_step = [b - a for a, b in itertools.pairwise(steps)]
            report("  per denoising step at 1024x768", per_step)
            report("  text encode + latents (before step 1)", [steps[0] - begin - per_step[0]])
            report("  VAE decode + PIL (after last step)", [end - steps[-1]])

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:.0f} MB")


def bench_other_kinds(engine: Any, repeat: int) -> None:
    """fill, canny, depth and a Redux image prompt at 256x256 / 4 steps on the dev set: first
    call (loads the kind's transformer, reusing base's text encoders and VAE) and warm."""
    import numpy as np
    from PIL import Image

    from fluxhost.engine import Control, Fill, ImagePrompt, TextToImage

    yy, xx = np.mgrid[0:256, 0:256]
    checker = np.where((xx // 32 + yy // 32) % 2 == 0, 30, 225).astype(np.uint8)
    image = Image.fromarray(np.stack([checker, (xx % 256).astype(np.uint8), checker], axis=-1))
    mask = Image.new("L", (256, 256))
    mask.paste(255, (64, 64, 192, 192))
    runs: dict[str, Callable[[], object]] = {
        "fill": lambda: engine.run(Fill("a cat", image, mask, 256, 256, 4, 30.0, 0)),
        "canny": lambda: engine.run(Control("canny", "a cat", image, 256, 256, 4, 30.0, 0)),
        "depth (+ depth map)": lambda: engine.run(
            Control("depth", "a cat", image, 256, 256, 4, 10.0, 0)
        ),
        "redux image prompt 1.0": lambda: engine.run(
            TextToImage("a cat", 256, 256, 4, 3.5, 0, image_prompt=ImagePrompt(image, 1.0))
        ),
    }
    for label, run in runs.items():
        report(f"{label} 256x256 4 steps, first (lazy load)", [timed(run)])
        report(f"{label} 256x256 4 steps", [timed(run) for _ in range(repeat)])


if __name__ == "__main__":
    main()
