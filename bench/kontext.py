"""The non-finetuned endpoints' engine work on the dev model set at 256x256.

    .venv/bin/python bench/kontext.py [--repeat 5] [--steps 4]

Prints: cold start to the first Kontext image (dev set build + engine + Kontext pipeline load +
one generation, in a fresh data dir), then the median engine time per endpoint's engine
request: text to image (pro-1.1/pro/dev/ultra), fill, expand (a 192x192 image grown to
256x256), canny and depth (each with a control image and with a preprocessed one), and
Kontext with 0, 1 and 4 reference images.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SIZE = 256


def report(label: str, seconds: list[float]) -> None:
    med = statistics.median(seconds)
    print(f"{label:<44} median {med * 1000:8.1f} ms  (min {min(seconds) * 1000:.1f}, "
          f"n={len(seconds)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    start = time.perf_counter()
    import numpy as np
    import torch
    from PIL import Image

    from fluxhost.engine import Control, Engine, Expand, Fill, Kontext, TextToImage
    from fluxhost.settings import Settings

    imported = time.perf_counter() - start
    print(f"torch {torch.__version__}, {len(os.sched_getaffinity(0))} CPUs visible, "
          f"{torch.get_num_threads()} torch threads; imports {imported * 1000:.0f} ms")

    rng = np.random.default_rng(0)

    def noise(w: int, h: int) -> Image.Image:
        return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), models={})  # type: ignore[call-arg]
        common = {"prompt": "a red fox", "steps": args.steps, "seed": 1}
        t0 = time.perf_counter()
        engine = Engine(settings)
        engine.load("kontext")  # builds the dev set, loads the shared parts + Kontext
        loaded = time.perf_counter() - t0
        engine.run(Kontext(images=(noise(SIZE, SIZE),), width=SIZE, height=SIZE,
                               guidance=2.5, **common))
        first = time.perf_counter() - t0
        print(f"cold start to the first Kontext image: {first * 1000:.0f} ms "
              f"(dev set build + load {loaded * 1000:.0f} ms, first image "
              f"{(first - loaded) * 1000:.0f} ms)")

        mask = Image.new("L", (SIZE, SIZE), 0)
        mask.paste(255, (64, 64, 192, 192))
        image = noise(SIZE, SIZE)
        control = Control(kind="canny", control_image=image, width=SIZE, height=SIZE,
                          guidance=30.0, **common)
        cases: dict[str, Callable[[], object]] = {
            "text to image (pro-1.1/pro/dev/ultra)": lambda: engine.run(
                TextToImage(width=SIZE, height=SIZE, guidance=3.0, **common)),
            "fill": lambda: engine.run(
                Fill(image=image, mask=mask, width=SIZE, height=SIZE, guidance=60.0, **common)),
            "expand (192x192 + 32 px each side)": lambda: engine.run(
                Expand(image=noise(192, 192), top=32, bottom=32, left=32, right=32, width=SIZE,
                       height=SIZE, guidance=60.0, **common)),
            "canny (control_image)": lambda: engine.run(control),
            "canny (preprocessed_image)": lambda: engine.run(
                Control(**{**control.__dict__, "preprocessed": True})),
            "depth (control_image)": lambda: engine.run(
                Control(**{**control.__dict__, "kind": "depth", "guidance": 15.0})),
            "depth (preprocessed_image)": lambda: engine.run(
                Control(**{**control.__dict__, "kind": "depth", "guidance": 15.0,
                           "preprocessed": True})),
        }
        for n in (0, 1, 4):
            refs = tuple(noise(SIZE, SIZE) for _ in range(n))
            cases[f"kontext, {n} reference image(s)"] = (
                lambda refs=refs: engine.run(  # type: ignore[misc]
                    Kontext(images=refs, width=SIZE, height=SIZE, guidance=2.5, **common)))
        print(f"engine time per request at {SIZE}x{SIZE}, {args.steps} steps "
              "(after one warm-up run each):")
        for label, fn in cases.items():
            fn()
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            report(label, times)


if __name__ == "__main__":
    main()
