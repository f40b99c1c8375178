"""`python -m fluxhost.training.emoji <stage> --work DIR`: see fluxhost.training.emoji."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fluxhost.training.emoji import common

STAGES = ("dataset", "vae", "encoders", "transformer", "decoder", "export")

# Per stage: (default total steps, default batch size).
DEFAULTS = {"vae": (6000, 16), "transformer": (60000, 32), "decoder": (3000, 16)}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fluxhost.training.emoji")
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--work", type=Path, required=True,
                        help="work directory (dataset, checkpoints); outside the repository")
    parser.add_argument("--steps", type=int, help="total steps to reach (resumes below it)")
    parser.add_argument("--minutes", type=float, help="stop this run after this long")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=Path("models/emoji64"),
                        help="export: where the pipeline folders go")
    parser.add_argument("--init-from", type=Path,
                        help="transformer: start from an exported set (e.g. models/emoji64) "
                        "when the work directory has no checkpoint")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    if args.stage == "dataset":
        from fluxhost.training.emoji import dataset

        dataset.build(work)
        return 0
    common.setup_torch(args.threads)
    steps, batch = DEFAULTS.get(args.stage, (0, 0))
    budget = common.Budget(steps=args.steps or steps, minutes=args.minutes)
    if args.stage == "vae":
        from fluxhost.training.emoji import vae

        vae.train(work, budget, args.batch or batch)
    elif args.stage == "encoders":
        from fluxhost.training.emoji import encoders

        encoders.build(work)
    elif args.stage == "transformer":
        from fluxhost.training.emoji import transformer

        if args.init_from is not None:
            transformer.init_from_export(work, args.init_from)
        transformer.train(work, budget, args.batch or batch)
    elif args.stage == "decoder":
        from fluxhost.training.emoji import decoder

        decoder.train(work, budget, args.batch or batch)
    elif args.stage == "export":
        from fluxhost.training.emoji import export

        export.export(work, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
