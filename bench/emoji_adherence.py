"""Prompt adherence of the emoji64 demo model: retrieval rank of the right emoji.

    .venv/bin/python bench/emoji_adherence.py [--model models/emoji64] [--train-n 200]
    .venv/bin/python bench/emoji_adherence.py --work /work/emoji-train   # latest checkpoint

Generates one 64x64 image per caption (true CFG against the empty prompt) for a seeded sample of
training captions and for every held-out caption (word combinations no training image had), and
ranks the right emoji among all dataset emoji in 16x16 pixel space (see
fluxhost.training.emoji.adherence), next to the shuffled-prompt and noise baselines.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fluxhost.training.emoji import adherence

ROOT = Path(__file__).resolve().parents[1]


def load(args: argparse.Namespace) -> tuple[Any, adherence.Reference]:
    """The pipeline and the reference thumbnails, from an exported set or a work directory."""
    import torch
    from diffusers import FluxPipeline

    from fluxhost.engine.hf import set_offline_env

    set_offline_env()
    if args.work is not None:
        from fluxhost.training.emoji import dataset, export

        images, entries = dataset.load(args.work)
        ref = adherence.Reference(adherence.thumbnails(images),
                                  [e.caption for e in entries], [e.split for e in entries])
        return export.build_pipeline(args.work), ref
    pipe = FluxPipeline.from_pretrained(args.model / "base", dtype=torch.float32,
                                        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe, adherence.load_reference(args.model)


def generator(pipe: Any, steps: int, cfg: float, seed: int) -> Callable[[list[str]], np.ndarray]:
    from fluxhost.training.emoji.export import generate

    def run(captions: list[str]) -> np.ndarray:
        images = generate(pipe, captions, seed=seed, steps=steps, cfg=cfg)
        return np.asarray(images.permute(0, 2, 3, 1).float().numpy())

    return run


def sample(ref: adherence.Reference, split: str, n: int | None, seed: int) -> list[int]:
    index = ref.index(split)
    if n is None or n >= len(index):
        return index
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(index, size=n, replace=False))


def line(label: str, fig: dict[str, float]) -> str:
    return (f"{label:<28} top-1 {fig['top1']:6.1%}  top-5 {fig['top5']:6.1%}  "
            f"median rank {fig['median_rank']:6.0f}  (n={int(fig['n'])})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "emoji64")
    parser.add_argument("--work", type=Path, help="evaluate a training work dir's checkpoint")
    parser.add_argument("--train-n", type=int, default=200, help="training captions to sample")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=4.0, help="true CFG scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    pipe, ref = load(args)
    run = generator(pipe, args.steps, args.cfg, args.seed)
    n = len(ref.captions)
    print(f"{n} reference emoji; 16x16 pixel space; {args.steps} steps, true CFG {args.cfg}; "
          f"chance top-1 {1 / n:.2%}, top-5 {5 / n:.2%}")
    results: dict[str, Any] = {}
    for split, count in (("train", args.train_n), ("heldout", None)):
        figures, _ = adherence.evaluate(run, ref, sample(ref, split, count, args.seed),
                                        seed=args.seed)
        results[split] = figures
        print(line(f"{split} captions", figures["prompts"]))
        print(line(f"  {split}: shuffled prompts", figures["shuffled"]))
        print(line(f"  {split}: noise images", figures["noise"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
