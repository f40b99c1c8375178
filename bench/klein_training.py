"""FLUX.2 [klein] LoRA training time per step on the dev model set (issue 19), or on a configured
klein checkpoint.

    .venv/bin/python bench/klein_training.py [--iterations 100] [--ranks 16 32]
                                             [--kinds klein-4b klein-9b] [--priority speed quality]
                                             [--types lora] [--model KIND=HUB_ID_OR_DIR]

Per kind, priority (dev set: 64² and 128²), rank (16, and 32: POST /v1/finetune's default) and
finetune type: the median seconds per optimizer step in steady state (from the progress
callback's timestamps, first step left out: model loading, the one-off Qwen3/VAE encoding and the
final save are excluded), and the whole call's wall time. Run it under nice 19 beside other work.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/training.py: the FLUX.1 bench's samples (three 512² noise images).
from training import samples


def _stamp(stamps: list[float], _fraction: float) -> None:
    stamps.append(time.perf_counter())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--ranks", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--kinds", nargs="+", default=["klein-4b", "klein-9b"])
    parser.add_argument("--priority", nargs="+", default=["speed", "quality"])
    parser.add_argument("--types", nargs="+", default=["lora"])
    parser.add_argument("--model", action="append", default=[], metavar="KIND=SOURCE",
                        help="a real checkpoint for a kind instead of the dev set")
    args = parser.parse_args()

    import torch

    from fluxhost.engine import Engine
    from fluxhost.settings import Settings
    from fluxhost.training.trainer import TrainSpec, resolution_for, train

    models = dict(item.split("=", 1) for item in args.model)
    with tempfile.TemporaryDirectory(prefix="fluxhost-klein-bench-") as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data",  # type: ignore[call-arg]
                            models=models)
        engine = Engine(settings)
        engine.model_sources()  # builds the dev set outside the timings
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
              f"dev models {engine.uses_dev_models}, {args.iterations} steps per run")
        data = samples()
        for kind in args.kinds:
            for priority in args.priority:
                size = resolution_for(priority, dev=engine.uses_dev_models)
                for rank in args.ranks:
                    for finetune_type in args.types:
                        stamps: list[float] = []
                        spec = TrainSpec(iterations=args.iterations, learning_rate=None,
                                         lora_rank=rank, finetune_type=finetune_type,
                                         priority=priority, trigger_word="tok", base_kind=kind)
                        start = time.perf_counter()
                        result = train(engine, data, spec, Path(tmp) / "lora.safetensors",
                                       on_progress=partial(_stamp, stamps))
                        total = time.perf_counter() - start
                        steps = [b - a for a, b in itertools.pairwise(stamps[1:])]
                        per_step = statistics.median(steps) if steps else float("nan")
                        print(f"{kind:<9} {finetune_type:<4} rank {rank:<2} {size}px: "
                              f"{per_step * 1000:6.2f} ms/step ({1 / per_step:5.1f} it/s), "
                              f"call {total:.2f} s (loss {result.final_loss:.3f}, "
                              f"file {result.path.stat().st_size // 1024} KiB)", flush=True)


if __name__ == "__main__":
    main()
