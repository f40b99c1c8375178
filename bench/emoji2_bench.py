"""The emoji2 (FLUX.2 [klein]-architecture) demo's measures on a training checkpoint.

    nice -n 19 .venv/bin/python bench/emoji2_bench.py --work ../emoji2-train [--limit 64]

Prints JSON: held-out combination top-1/top-5/median rank against the shuffled-prompt and noise
baselines, edit success on held-out pairs, seed diversity and seconds per 64x64 image (see
fluxhost.training.emoji2.bench for each measure).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fluxhost.training.emoji2 import bench, data, transformer

DIVERSITY_PROMPTS = ["apple", "heart", "rocket", "book", "red apple", "blue heart"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--limit", type=int, help="held-out combinations used (default all)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    pipe = transformer.pipeline(args.work)
    pipe.set_progress_bar_config(disable=True)
    d = data.load(args.work)
    s = bench.Settings(steps=args.steps, guidance=args.guidance, limit=args.limit)
    prompts = [p for p in DIVERSITY_PROMPTS if p.split()[-1] in d.objects]
    result = {
        "step": int(torch.load(args.work / "transformer" / "latest.pt",
                               weights_only=False)["step"]),
        "adherence": bench.adherence(pipe, d, s),
        "edits": bench.edits(pipe, d, s),
        "diversity": bench.diversity(pipe, prompts, s),
        "seconds_per_image": bench.seconds_per_image(pipe, s),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
