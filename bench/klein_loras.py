"""Switching uploaded FLUX.2 [klein] LoRAs on the klein dev set (in-process engine), as
bench/finetunes.py measures FLUX.1's: requests that cycle through 8 LoRAs against requests that
all use one, same model, size and steps, in interleaved rounds (target: cycling >= 0.9 of
single). The 8 LoRAs come one per key layout in turn (diffusers, peft, AI-Toolkit, kohya),
each converted as an upload converts it (lora_files.prepare), so the engine loads what the
workers load. With the adapter cache holding all 8, a switch is an activation, not a load.

Run: `.venv/bin/python bench/klein_loras.py [--requests N] [--size PX]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

LAYOUTS = ("diffusers", "peft", "ai-toolkit", "kohya")


def requests_per_second(engine: Any, req: Any, loras: list[Any], n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        engine.run(replace(req, lora=loras[i % len(loras)], seed=i))
    return n / (time.perf_counter() - started)


def uploaded_loras(dev: Path, tmp: Path) -> list[Any]:
    """8 LoRAs for the dev klein-4b, two per layout, converted as the upload route does."""
    from fluxhost.engine import LoraSpec
    from fluxhost.engine.families.flux2.dev_loras import write_layout_lora
    from fluxhost.engine.families.flux2.lora_files import prepare, transformer_shapes

    shapes = transformer_shapes(str(dev / "klein-4b"))
    loras = []
    for i in range(8):
        layout = LAYOUTS[i % len(LAYOUTS)]
        raw = write_layout_lora(dev / "klein-4b", tmp / f"raw-{i}.safetensors", layout, seed=i)
        prepare(raw, tmp / f"lora-{i}.safetensors", shapes, "klein-4b")
        loras.append(LoraSpec(key=f"klein-{i}", path=tmp / f"lora-{i}.safetensors",
                              strength=1.0))
    return loras


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=48)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fluxhost.engine import Engine
    from fluxhost.engine.devmodels import ensure_dev_model_set
    from fluxhost.engine.types import Flux2
    from fluxhost.settings import Settings

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        ensure_dev_model_set(tmp / "dev")
        settings = Settings(_env_file=None, data_dir=tmp, dev_model_dir=tmp / "dev",  # type: ignore[call-arg]
                            lora_cache_size=8)
        loras = uploaded_loras(tmp / "dev", tmp)
        engine = Engine(settings)
        req = Flux2(prompt="bench", references=(), width=args.size, height=args.size, steps=4,
                    guidance=1.0, seed=0, kind="klein-4b")
        for lora in loras:  # warm: every adapter resident, the pipeline loaded
            engine.run(replace(req, lora=lora))
        single, cycling = [], []
        for _ in range(3):  # interleaved rounds, so drift hits both alike
            single.append(requests_per_second(engine, req, loras[:1], args.requests))
            cycling.append(requests_per_second(engine, req, loras, args.requests))
        s, c = statistics.median(single), statistics.median(cycling)
        print(f"klein LoRA switching (dev klein-4b, {args.size}x{args.size}, 4 steps, "
              f"{args.requests} requests x 3)")
        print(f"  one LoRA:           {s:6.2f} req/s")
        print(f"  cycling through 8:  {c:6.2f} req/s")
        print(f"  ratio: {c / s:.2f} (target >= 0.90)")
        print(f"  per-request cost of a switch: {(1 / c - 1 / s) * 1000:+.1f} ms")


if __name__ == "__main__":
    main()
