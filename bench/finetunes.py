"""Switching finetunes, and cold starts, on the dev model set (in-process engine).

1. Throughput of requests that cycle through 8 finetunes against requests that all use one,
   same model, sizes and steps, in one run (target: cycling >= 0.9 of single). With the adapter
   cache holding all 8, a switch is an activation (`set_adapters`), not a load from disk.
2. Time to serve the first request after a cold start, per pipeline kind: a fresh Engine,
   so the time includes loading that kind's pipeline (and, for the first, the shared parts).

Run: `.venv/bin/python bench/finetunes.py [--requests N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image


def requests_per_second(engine: Any, req: Any, loras: list[Any], n: int) -> float:
    from dataclasses import replace

    started = time.perf_counter()
    for i in range(n):
        engine.run(replace(req, lora=loras[i % len(loras)], seed=i))
    return n / (time.perf_counter() - started)


def cold_start(settings: Any, kind: str) -> float:
    from fluxhost.engine import Engine
    from fluxhost.engine.types import Control, Fill, TextToImage

    engine = Engine(settings)
    image = Image.new("RGB", (256, 256), (120, 80, 40))
    mask = Image.new("L", (256, 256), 255)
    common: dict[str, Any] = {"prompt": "p", "width": 256, "height": 256, "steps": 4,
                              "guidance": 3.0, "seed": 0}
    started = time.perf_counter()
    if kind == "base":
        engine.run(TextToImage(**common))
    elif kind == "fill":
        engine.run(Fill(image=image, mask=mask, **common))
    else:
        engine.run(Control(kind=kind, control_image=image, **common))  # type: ignore[arg-type]
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=48)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fluxhost.engine import Engine, LoraSpec, TextToImage
    from fluxhost.engine.devmodels import ensure_dev_model_set
    from fluxhost.engine.families.flux1.dev import make_dev_lora
    from fluxhost.settings import Settings

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        ensure_dev_model_set(tmp / "dev")
        settings = Settings(_env_file=None, data_dir=tmp, dev_model_dir=tmp / "dev",  # type: ignore[call-arg]
                            lora_cache_size=8)
        loras = [LoraSpec(key=f"ft-{i}", path=make_dev_lora(tmp / "dev" / "base",
                                                            tmp / f"ft-{i}.safetensors", seed=i),
                          strength=1.0) for i in range(8)]
        engine = Engine(settings)
        req = TextToImage(prompt="bench", width=256, height=256, steps=4, guidance=3.0, seed=0)
        for lora in loras:  # warm: every adapter resident, the pipeline loaded
            engine.run(TextToImage(**{**req.__dict__, "lora": lora}))
        single, cycling = [], []
        for _ in range(3):  # interleaved rounds, so drift hits both alike
            single.append(requests_per_second(engine, req, loras[:1], args.requests))
            cycling.append(requests_per_second(engine, req, loras, args.requests))
        s, c = statistics.median(single), statistics.median(cycling)
        print(f"finetune switching (dev model, 256x256, 4 steps, {args.requests} requests x 3)")
        print(f"  one finetune:       {s:6.2f} req/s")
        print(f"  cycling through 8:  {c:6.2f} req/s")
        print(f"  ratio: {c / s:.2f} (target >= 0.90)")
        print("first request after a cold start (fresh Engine, pipeline load included)")
        for kind in ("base", "fill", "canny", "depth"):
            print(f"  {kind:<6} {cold_start(settings, kind) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
