"""`python -m fluxhost.training.emoji2 train --work DIR`: see fluxhost.training.emoji2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fluxhost.training.emoji import common

STEPS, BATCH = 100_000, 32


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fluxhost.training.emoji2")
    parser.add_argument("stage", choices=("train", "decoder", "export", "init"))
    parser.add_argument("--work", type=Path, required=True,
                        help="work directory (data, checkpoints); outside the repository")
    parser.add_argument("--steps", type=int, default=STEPS, help="total steps to reach")
    parser.add_argument("--minutes", type=float, help="stop this run after this long")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 on a shared machine)")
    parser.add_argument("--checkpoint-minutes", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("models/emoji64"),
                        help="export: the model set the klein folder joins")
    parser.add_argument("--from", dest="source", type=Path, default=Path("models/emoji64"),
                        help="init: the exported set whose weights the work directory continues")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    from fluxhost.training.emoji import dataset
    from fluxhost.training.emoji2 import transformer

    if args.stage == "export":
        from fluxhost.training.emoji2 import export

        common.setup_torch(args.threads)
        export.export(args.work, args.out)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    if args.stage == "init":
        from fluxhost.training.emoji2 import init

        init.init(args.work, args.source)
        return 0
    dataset.build(args.work)
    common.setup_torch(args.threads)
    budget = common.Budget(steps=args.steps, minutes=args.minutes,
                           checkpoint_minutes=args.checkpoint_minutes)
    if args.stage == "decoder":
        from fluxhost.training.emoji2 import decoder

        decoder.train(args.work, budget, args.batch)
    else:
        transformer.train(args.work, budget, args.batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
