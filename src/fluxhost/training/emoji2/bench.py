"""The emoji2 measures, on any Flux2KleinPipeline of the demo (a checkpoint or shipped weights).

- Held-out combinations: for each held-out (object, colour) caption one 64x64 image; its rank is
  the position of the right bank image among all bank images (every object in every colour) by
  distance in 16x16 pixel space (gen 1's emoji.adherence.thumbnails). Baselines scored alike: the
  same images against a derangement of the targets (shuffled prompts), and uniform noise.
- Edit success: for each held-out combination (o, b), a reference (o, a) of a training colour a
  and the instruction "make it b"; a success when b is the dominant colour word of the output's
  coloured pixels (colours.dominant), i.e. the instructed colour dominates the edited object.
- Seed diversity: for P prompts x S seeds, the mean absolute pixel difference (0..255) between
  two seeds of one prompt, and between two prompts at one seed; their ratio.
- Seconds per image at 64x64 (the run's wall time over images drawn).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from fluxhost.training.emoji.adherence import derangement, summary, thumbnails
from fluxhost.training.emoji2 import colours, data, encoders


@dataclass
class Settings:
    steps: int = 20
    guidance: float = 4.0
    seed: int = 0
    limit: int | None = None  # held-out combinations used (None: all)


def draw(pipe: Any, prompts: list[str], s: Settings, seed: int,
         images: list[list[Any]] | None = None) -> np.ndarray:
    """N x 64 x 64 x 3 uint8, one pipeline call per prompt (the same seed for each)."""
    import torch

    out = []
    for i, prompt in enumerate(prompts):
        result = pipe(prompt=prompt, image=None if images is None else images[i], height=64,
                      width=64, num_inference_steps=s.steps, guidance_scale=s.guidance,
                      max_sequence_length=encoders.TEXT_TOKENS,
                      generator=torch.Generator().manual_seed(seed))
        out.append(np.asarray(result.images[0].convert("RGB")))
    return np.stack(out)


def ranks(generated: np.ndarray, targets: list[int], bank: np.ndarray) -> np.ndarray:
    feats, ref = thumbnails(generated), thumbnails(bank)
    dist = np.linalg.norm(feats[:, None, :] - ref[None, :, :], axis=2)
    own = dist[np.arange(len(targets)), targets]
    return 1 + (dist < own[:, None]).sum(axis=1)


def heldout_pairs(d: data.Data, limit: int | None) -> list[tuple[int, int]]:
    pairs = [(int(o), int(c)) for o, c in zip(*np.nonzero(d.heldout), strict=True)]
    return pairs if limit is None else pairs[:limit]


def adherence(pipe: Any, d: data.Data, s: Settings) -> dict[str, dict[str, float]]:
    pairs = heldout_pairs(d, s.limit)
    n_col = d.heldout.shape[1]
    flat = d.bank.reshape(-1, *d.bank.shape[2:])
    targets = [o * n_col + c for o, c in pairs]
    images = draw(pipe, [d.captions[o][c] for o, c in pairs], s, s.seed)
    noise = np.random.default_rng(s.seed).integers(0, 256, images.shape, dtype=np.uint8)
    shuffled = [targets[i] for i in derangement(len(targets), s.seed)]
    return {"heldout": summary(ranks(images, targets, flat)),
            "shuffled": summary(ranks(images, shuffled, flat)),
            "noise": summary(ranks(noise, targets, flat))}


def edits(pipe: Any, d: data.Data, s: Settings) -> dict[str, float]:
    from PIL import Image

    pairs = heldout_pairs(d, s.limit)
    refs, prompts, wanted = [], [], []
    for o, b in pairs:
        sources = [a for a in range(d.heldout.shape[1]) if not d.heldout[o, a] and a != b]
        refs.append([Image.fromarray(d.bank[o, sources[0]])])
        prompts.append(data.RECOLOUR.format(colour=data.COLOUR_NAMES[b]))
        wanted.append(data.COLOUR_NAMES[b])
    images = draw(pipe, prompts, s, s.seed, refs)
    hits = [colours.dominant(image)[0] == colour
            for image, colour in zip(images, wanted, strict=True)]
    return {"success": float(np.mean(hits)), "n": float(len(hits))}


def diversity(pipe: Any, prompts: list[str], s: Settings, seeds: int = 4) -> dict[str, float]:
    stack = np.stack([draw(pipe, prompts, s, seed) for seed in range(seeds)]).astype(np.float32)
    between_seeds = np.mean([np.abs(stack[i] - stack[j]).mean()
                             for i in range(seeds) for j in range(i + 1, seeds)])
    p = len(prompts)
    between_prompts = np.mean([np.abs(stack[:, i] - stack[:, j]).mean()
                               for i in range(p) for j in range(i + 1, p)])
    return {"between_seeds": float(between_seeds), "between_prompts": float(between_prompts),
            "ratio": float(between_seeds / between_prompts)}


def seconds_per_image(pipe: Any, s: Settings, n: int = 4) -> float:
    started = time.perf_counter()
    draw(pipe, ["red apple"] * n, s, s.seed)
    return (time.perf_counter() - started) / n
