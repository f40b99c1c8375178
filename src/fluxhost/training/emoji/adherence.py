"""Prompt adherence of an emoji model as retrieval: does the image generated for an emoji's
caption look more like that emoji than like the other 1,391?

Feature space: pixels. Every image is reduced to a 16x16 RGB thumbnail (box filter: the mean of
each 4x4 block, which keeps colour and layout and drops the detail a 64x64 model blurs anyway);
distance is Euclidean. The rank of a generated image is 1 + the number of dataset emoji whose
thumbnail is strictly closer to it than its own emoji's; top-k is the share of rank <= k.

Baselines, scored exactly the same way:
- shuffled prompts: each generated image is scored against another prompt's emoji (a seeded
  derangement) -- what an image that ignores its prompt but looks like an emoji gets;
- noise: uniform random 64x64 images scored against the prompts' emoji;
- chance: k / N.

The dataset's thumbnails ship with the model (OUT/eval/thumbs.npz, written by export), so the
evaluation needs neither the font nor the work directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

THUMB = 16
THUMBS_FILE = Path("eval") / "thumbs.npz"


@dataclass(frozen=True)
class Reference:
    thumbs: np.ndarray  # N x 768 float32, pixel values 0..1
    captions: list[str]
    splits: list[str]

    def index(self, split: str) -> list[int]:
        return [i for i, s in enumerate(self.splits) if s == split]


def thumbnails(images: np.ndarray) -> np.ndarray:
    """uint8 or float N x 64 x 64 x 3 (0..255 or 0..1) -> N x 768 float32 in 0..1."""
    x = images.astype(np.float32)
    if images.dtype == np.uint8:
        x /= 255.0
    n, h, w, c = x.shape
    if h % THUMB or w % THUMB:
        raise ValueError(f"image size {h}x{w} is not a multiple of {THUMB}")
    blocks = x.reshape(n, THUMB, h // THUMB, THUMB, w // THUMB, c).mean(axis=(2, 4))
    return blocks.reshape(n, -1)


def save_reference(images: np.ndarray, captions: list[str], splits: list[str],
                   path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    thumbs = np.round(thumbnails(images) * 255).astype(np.uint8)
    np.savez_compressed(path, thumbs=thumbs, captions=json.dumps(captions),
                        splits=json.dumps(splits))


def load_reference(model_root: Path) -> Reference:
    data = np.load(model_root / THUMBS_FILE)
    return Reference(data["thumbs"].astype(np.float32) / 255.0,
                     json.loads(str(data["captions"])), json.loads(str(data["splits"])))


def ranks(generated: np.ndarray, targets: list[int], ref: Reference) -> np.ndarray:
    """Rank (1 = best) of each target emoji among all reference emoji for each generated image
    (N x 64 x 64 x 3 in 0..1 or uint8)."""
    feats = thumbnails(generated)
    dist = np.linalg.norm(feats[:, None, :] - ref.thumbs[None, :, :], axis=2)
    own = dist[np.arange(len(targets)), targets]
    return 1 + (dist < own[:, None]).sum(axis=1)


def summary(r: np.ndarray) -> dict[str, float]:
    return {"top1": float((r <= 1).mean()), "top5": float((r <= 5).mean()),
            "median_rank": float(np.median(r)), "n": float(len(r))}


def derangement(n: int, seed: int) -> list[int]:
    """A seeded permutation with no fixed point (n >= 2)."""
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if n < 2 or not (perm == np.arange(n)).any():
            return [int(p) for p in perm]


def noise_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 64, 64, 3), dtype=np.float32)


def evaluate(generate: Any, ref: Reference, targets: list[int], seed: int = 0,
             batch: int = 16) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """generate(captions) -> N x 64 x 64 x 3 in 0..1. Returns figures for the prompts, the
    shuffled-prompt and noise baselines, and the generated images."""
    images = np.concatenate([
        generate([ref.captions[t] for t in targets[i:i + batch]])
        for i in range(0, len(targets), batch)
    ])
    shuffled = [targets[j] for j in derangement(len(targets), seed)]
    figures = {
        "prompts": summary(ranks(images, targets, ref)),
        "shuffled": summary(ranks(images, shuffled, ref)),
        "noise": summary(ranks(noise_images(len(targets), seed), targets, ref)),
    }
    return figures, images
