"""The picture sheet of the emoji2 (FLUX.2 [klein]-architecture) demo: held-out combinations,
four prompts over four seeds each, and an editing row (reference -> result).

    .venv/bin/python bench/emoji2_sheet.py --work ../emoji2-train      # latest checkpoint
    .venv/bin/python bench/emoji2_sheet.py --model models/emoji64      # shipped weights
    (--out docs/images/emoji2-sheet.png)

Every image is generated at 64x64 (20 steps, CFG 4, seed 0 unless the row varies it) and shown
at 2x with nearest-neighbour scaling, so what you see is what the model made. Edit references
are the bench's (bench.EvalSet): each held-out combination's object in a training colour.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fluxhost.training.emoji2 import bench, data, encoders

ROOT = Path(__file__).resolve().parents[1]
NAMED = ["blue apple", "red book", "green heart"]
# Seeds (docs/emoji64.md, "Seeds"): a bare name the data has in several native looks ("heart"),
# one it has only as recolours of one emoji at the bench's median between-seed distance over 48
# bare names ("microbe"), one of the names whose seeds still agree ("apple"), and a composed
# caption, which has one right answer in the data ("red apple").
SEED_ROWS = (("heart", "microbe"), ("apple", "red apple"))
CELL, PAD, LABEL = 128, 8, 30


def load(args: argparse.Namespace) -> tuple[Any, bench.EvalSet]:
    import torch

    if args.work is not None:
        from fluxhost.training.emoji2 import transformer

        return transformer.pipeline(args.work), bench.EvalSet.from_data(data.load(args.work))
    from diffusers import Flux2KleinPipeline

    pipe = Flux2KleinPipeline.from_pretrained(args.model / "klein", dtype=torch.float32,
                                              local_files_only=True)
    return pipe, bench.EvalSet.load(args.model / bench.EVAL_FILE)


def draw_one(pipe: Any, prompt: str, refs: list[np.ndarray] | None, seed: int,
             steps: int) -> np.ndarray:
    import torch

    result = pipe(prompt=prompt, image=None if refs is None else [Image.fromarray(r) for r in refs],
                  height=64, width=64, num_inference_steps=steps, guidance_scale=4.0,
                  max_sequence_length=encoders.TEXT_TOKENS,
                  generator=torch.Generator().manual_seed(seed))
    return np.asarray(result.images[0].convert("RGB"))


def rows(pipe: Any, e: bench.EvalSet, steps: int) -> dict[str, list[tuple[str, np.ndarray]]]:
    source = {caption: e.sources[i] for i, caption in enumerate(e.captions)}
    held = [c for c in NAMED if c in source] + [c for c in e.captions if c not in NAMED]
    apple, heart = source.get("blue apple"), source.get("green heart")
    out: dict[str, list[tuple[str, np.ndarray]]] = {
        "held-out combinations (never trained)":
            [(c, draw_one(pipe, c, None, 0, steps)) for c in held[:8]],
    }
    for prompts in SEED_ROWS:
        out[" and ".join(f"'{p}'" for p in prompts) + ", seeds 0-3 each"] = [
            (f"{p}, seed {s}", draw_one(pipe, p, None, s, steps))
            for p in prompts for s in range(4)]
    edits: list[tuple[str, np.ndarray]] = []
    for caption in NAMED[:2]:
        if caption in source:
            colour = caption.split()[0]
            prompt = data.RECOLOUR.format(colour=colour)
            edits += [("reference", source[caption]),
                      (prompt, draw_one(pipe, prompt, [source[caption]], 0, steps))]
    if apple is not None and heart is not None:
        prompt = data.SWAP.format(object="book")
        edits += [("reference", apple), (prompt, draw_one(pipe, prompt, [apple], 0, steps))]
        edits += [("two references", data.side_by_side(apple, heart)),
                  (data.COMBINE, draw_one(pipe, data.COMBINE, [apple, heart], 0, steps))]
    out["editing: reference, then result"] = edits
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--work", type=Path)
    where.add_argument("--model", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "emoji2-sheet.png")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    pipe, evaluation = load(args)
    pipe.set_progress_bar_config(disable=True)
    table = rows(pipe, evaluation, args.steps)
    cols = max(len(cells) for cells in table.values())
    row_h = CELL + LABEL + 2 * PAD
    sheet = Image.new("RGB", (cols * (CELL + PAD) + PAD, len(table) * (row_h + LABEL)), "white")
    pen = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=11)
    for r, (title, cells) in enumerate(table.items()):
        top = r * (row_h + LABEL)
        pen.text((PAD, top + 8), title, fill="black", font=ImageFont.load_default(size=14))
        for c, (label, pixels) in enumerate(cells):
            x, y = PAD + c * (CELL + PAD), top + LABEL
            cell = Image.fromarray(pixels).resize((CELL, CELL), Image.Resampling.NEAREST)
            sheet.paste(cell, (x, y))
            pen.text((x, y + CELL + 4), label[:22], fill="black", font=font)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
