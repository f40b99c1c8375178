"""The emoji2 (FLUX.2 [klein]-architecture) demo's measures on a training checkpoint.

    nice -n 19 .venv/bin/python bench/emoji2_bench.py --work ../emoji2-train [--limit 64]
    nice -n 19 .venv/bin/python bench/emoji2_bench.py --model models/emoji64   # shipped

Prints JSON: held-out combination top-1/top-5/median rank against the shuffled-prompt and noise
baselines, edit success on held-out pairs, seed diversity (six chosen prompts, and 48 bare
object names) and seconds per 64x64 image (see fluxhost.training.emoji2.bench for each measure).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fluxhost.training.emoji import common
from fluxhost.training.emoji2 import bench, data, transformer

DIVERSITY_PROMPTS = ["apple", "heart", "rocket", "book", "red apple", "blue heart"]
BARE_NAMES = 48  # object names, 4 seeds each (bench.bare_names)


def main() -> int:
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--work", type=Path, help="a training work directory (latest EMA)")
    where.add_argument("--model", type=Path, help="an exported set (its klein folder)")
    parser.add_argument("--limit", type=int, help="held-out combinations used (default all)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.work is not None:
        pipe = transformer.pipeline(args.work)
        evaluation = bench.EvalSet.from_data(data.load(args.work))
        step = common.require_checkpoint(args.work, "transformer")["step"]
    else:
        from diffusers import Flux2KleinPipeline

        pipe = Flux2KleinPipeline.from_pretrained(args.model / "klein", dtype=torch.float32,
                                                  local_files_only=True)
        evaluation = bench.EvalSet.load(args.model / bench.EVAL_FILE)
        step = json.loads((args.model / "fluxhost-model.json").read_text())[
            "klein_transformer_step"]
    pipe.set_progress_bar_config(disable=True)
    s = bench.Settings(steps=args.steps, guidance=args.guidance, limit=args.limit)
    result = {
        "step": int(step),
        "adherence": bench.adherence(pipe, evaluation, s),
        "edits": bench.edits(pipe, evaluation, s),
        "diversity": bench.diversity(pipe, DIVERSITY_PROMPTS, s),
        "bare_names": bench.diversity(pipe, bench.bare_names(evaluation, BARE_NAMES), s),
        "seconds_per_image": bench.seconds_per_image(pipe, s),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
