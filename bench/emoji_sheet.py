"""The README's picture sheet of the emoji64 demo model: prompts, outputs, and the emoji each
caption names (blank for combinations no emoji has).

    .venv/bin/python bench/emoji_sheet.py    # or: make sheet
    (--model models/emoji64, --out docs/images/emoji64-sheet.png)

Rows: training captions, held-out captions (their images never trained the model), and free
combinations of known words. Every image is generated at 64x64 (20 steps, true CFG 4, seed 0)
and shown at 2x with nearest-neighbour scaling, so what you see is what the model made.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fluxhost.training.emoji import adherence

ROOT = Path(__file__).resolve().parents[1]
ROWS = {
    "training captions": ["red apple", "rocket", "blue heart", "slice of pizza", "snowman",
                          "dog face", "green apple", "automobile"],
    "held-out captions": ["grinning face", "crying face", "brown heart", "large green circle",
                          "large blue square", "oncoming bus", "older woman", "closed book"],
    "new combinations": ["blue apple", "red book", "green cat face", "purple circle",
                         "yellow car", "blue snowman", "red rocket", "black apple"],
}
CELL, PAD, LABEL = 128, 8, 30


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "emoji64")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "emoji64-sheet.png")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=4.0)
    args = parser.parse_args()
    import torch
    from diffusers import FluxPipeline

    from fluxhost.engine.hf import set_offline_env
    from fluxhost.training.emoji.export import generate

    set_offline_env()
    pipe = FluxPipeline.from_pretrained(args.model / "base", dtype=torch.float32,
                                        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    ref = adherence.load_reference(args.model)
    cols = max(len(p) for p in ROWS.values())
    row_h = 2 * CELL + LABEL + 2 * PAD
    sheet = Image.new("RGB", (cols * (CELL + PAD) + PAD, len(ROWS) * (row_h + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=11)
    for r, (title, prompts) in enumerate(ROWS.items()):
        top = r * (row_h + LABEL)
        heading = f"{title}: generated at 64x64 (top), the dataset emoji at 16x16 (below)"
        draw.text((PAD, top + 8), heading, fill="black", font=ImageFont.load_default(size=14))
        images = generate(pipe, prompts, seed=0, steps=args.steps, cfg=args.cfg)
        for c, prompt in enumerate(prompts):
            x, y = PAD + c * (CELL + PAD), top + LABEL
            made = images[c].permute(1, 2, 0).clamp(0, 1).numpy()
            sheet.paste(_cell(made), (x, y))
            if prompt in ref.captions:
                thumb = ref.thumbs[ref.captions.index(prompt)].reshape(16, 16, 3)
                sheet.paste(_cell(thumb), (x, y + CELL + 2))
            draw.text((x, y + 2 * CELL + 4), _wrap(prompt), fill="black", font=font)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out}")


def _cell(pixels: np.ndarray) -> Image.Image:
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8))
    return image.resize((CELL, CELL), Image.Resampling.NEAREST)


def _wrap(text: str, width: int = 20) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


if __name__ == "__main__":
    main()
