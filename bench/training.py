"""LoRA trainer throughput and peak memory on the dev model set (or a configured base model).

    .venv/bin/python bench/training.py [--iterations 100] [--rank 16] [--device cpu]
                                       [--priority speed quality] [--base HUB_ID_OR_DIR]

For each finetune type (lora, full) and priority: optimizer steps per second in steady state
(from the progress callback's timestamps, so model loading, the one-off text/VAE encoding and
the final save/SVD are excluded), the whole call's wall time, the peak RSS of this process so far
(resource.getrusage: a high-water mark, never lowered between runs) and, on CUDA, the peak
allocated accelerator memory of the run.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes; this bench targets Linux).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stamp(stamps: list[float], _fraction: float) -> None:
    stamps.append(time.perf_counter())


def samples(count: int = 3) -> list[tuple[Any, str]]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [
        (Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)), f"tok, image {i}")
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--priority", nargs="+", default=["speed", "quality"])
    parser.add_argument("--types", nargs="+", default=["lora", "full"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--base", help="hub id or dir of a real base model instead of the dev set")
    args = parser.parse_args()

    import torch

    from fluxhost.engine import Engine
    from fluxhost.settings import Settings
    from fluxhost.training.trainer import TrainSpec, resolution_for, train

    with tempfile.TemporaryDirectory(prefix="fluxhost-train-bench-") as tmp:
        values: dict[str, Any] = {
            "data_dir": Path(tmp) / "data",
            "models": {"base": args.base} if args.base else {},
            "device": args.device,
            "dtype": args.dtype,
        }
        engine = Engine(Settings(_env_file=None, **values))  # type: ignore[call-arg]
        engine.model_sources()  # builds the dev set outside the timings
        cuda = torch.cuda.is_available() and args.device in ("auto", "cuda")
        print(
            f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
            f"cuda {torch.cuda.get_device_name() if cuda else 'no'}, "
            f"dev models {engine.uses_dev_models}, rank {args.rank}"
        )
        data = samples()
        for priority in args.priority:
            resolution = resolution_for(priority, dev=engine.uses_dev_models)
            for finetune_type in args.types:
                stamps: list[float] = []
                spec = TrainSpec(
                    iterations=args.iterations,
                    learning_rate=None,
                    lora_rank=args.rank,
                    finetune_type=finetune_type,
                    priority=priority,
                    trigger_word="tok",
                )
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                result = train(
                    engine,
                    data,
                    spec,
                    Path(tmp) / f"{finetune_type}-{priority}.safetensors",
                    on_progress=partial(_stamp, stamps),
                )
                total = time.perf_counter() - start
                # Steady state: the first step also pays for lazy allocations.
                its = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
                gpu = (
                    f", cuda peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
                    if cuda
                    else ""
                )
                print(
                    f"{finetune_type:<4} {priority:<13} {resolution}px: {its:7.1f} it/s, "
                    f"{args.iterations} steps in {total:.2f} s total "
                    f"(loss {result.final_loss:.3f}, file {result.path.stat().st_size // 1024} KiB)"
                    f", peak RSS {peak_rss_mb():.0f} MiB{gpu}"
                )


if __name__ == "__main__":
    main()
