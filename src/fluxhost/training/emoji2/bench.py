"""The emoji2 measures, on any Flux2KleinPipeline of the demo (a checkpoint or shipped weights).

- Held-out combinations: for each held-out (object, colour) caption one 64x64 image; its rank is
  the position of the right bank image among all bank images (every object in every colour) by
  distance in 16x16 pixel space (gen 1's emoji.adherence.thumbnails). Baselines scored alike: the
  same images against a derangement of the targets (shuffled prompts), and uniform noise.
- Edit success: for each held-out combination (o, b), a reference (o, a) of a training colour a
  and the instruction "make it b"; a success when b is the dominant colour word of the output's
  coloured pixels (colours.dominant), i.e. the instructed colour dominates the edited object.
- Seed diversity: for P prompts x S seeds, the mean absolute pixel difference (0..255) between
  two seeds of one prompt, and between two prompts at one seed; their ratio. Run on a few chosen
  prompts, and on a spread of bare object names (bare_names: any of its colours is a right
  answer), where the share of names whose seeds differ visibly (VISIBLE) says how often a seed
  changes the picture, which a mean over six prompts cannot. The share whose seeds come out in
  more than one colour word is reported too, but a neighbouring-hue flip counts there.
- Seconds per image at 64x64 (the run's wall time over images drawn).

The measures read an `EvalSet`: the 16x16 thumbnails of every bank image (uint8) and, per
held-out combination, its caption and the 64x64 reference an edit starts from. Export saves it
beside the weights (EVAL_FILE, ~1 MB), so the bench and the tests run on shipped weights without
the work directory or the font.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fluxhost.training.emoji.adherence import derangement, summary, thumbnails
from fluxhost.training.emoji2 import colours, data, encoders

EVAL_FILE = Path("eval") / "klein.npz"
# Mean |pixel difference| (0..255) between two seeds above which they count as visibly different:
# the step-8,476 weights' seeds that differed only by a neighbouring hue measured 4 to 9.
VISIBLE = 15.0


@dataclass(frozen=True)
class EvalSet:
    thumbs: np.ndarray  # (objects * colours) x 768 uint8, bank image o * colours + c
    colours: int
    pairs: list[tuple[int, int]]  # held-out (object, colour)
    captions: list[str]  # composed caption of each pair
    sources: np.ndarray  # pairs x 64 x 64 x 3 uint8: the object in a training colour

    @classmethod
    def from_data(cls, d: data.Data) -> EvalSet:
        pairs = [(int(o), int(c)) for o, c in zip(*np.nonzero(d.heldout), strict=True)]
        sources = []
        for o, b in pairs:
            a = next(a for a in range(d.heldout.shape[1]) if not d.heldout[o, a] and a != b)
            sources.append(d.bank[o, a])
        flat = d.bank.reshape(-1, *d.bank.shape[2:])
        return cls(np.round(thumbnails(flat) * 255).astype(np.uint8), d.heldout.shape[1],
                   pairs, [d.captions[o][c] for o, c in pairs], np.stack(sources))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, thumbs=self.thumbs, sources=self.sources,
                            meta=json.dumps({"colours": self.colours, "pairs": self.pairs,
                                             "captions": self.captions}))

    @classmethod
    def load(cls, path: Path) -> EvalSet:
        saved = np.load(path)
        meta = json.loads(str(saved["meta"]))
        return cls(saved["thumbs"], int(meta["colours"]),
                   [(int(o), int(c)) for o, c in meta["pairs"]], list(meta["captions"]),
                   saved["sources"])


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


def ranks(generated: np.ndarray, targets: list[int], thumbs: np.ndarray) -> np.ndarray:
    feats, ref = thumbnails(generated), thumbs.astype(np.float32) / 255.0
    dist = np.linalg.norm(feats[:, None, :] - ref[None, :, :], axis=2)
    own = dist[np.arange(len(targets)), targets]
    return 1 + (dist < own[:, None]).sum(axis=1)


def adherence(pipe: Any, e: EvalSet, s: Settings) -> dict[str, dict[str, float]]:
    n = len(e.pairs) if s.limit is None else s.limit
    targets = [o * e.colours + c for o, c in e.pairs[:n]]
    images = draw(pipe, e.captions[:n], s, s.seed)
    noise = np.random.default_rng(s.seed).integers(0, 256, images.shape, dtype=np.uint8)
    shuffled = [targets[i] for i in derangement(len(targets), s.seed)]
    return {"heldout": summary(ranks(images, targets, e.thumbs)),
            "shuffled": summary(ranks(images, shuffled, e.thumbs)),
            "noise": summary(ranks(noise, targets, e.thumbs))}


def edits(pipe: Any, e: EvalSet, s: Settings) -> dict[str, float]:
    from PIL import Image

    n = len(e.pairs) if s.limit is None else s.limit
    wanted = [data.COLOUR_NAMES[c] for _, c in e.pairs[:n]]
    refs = [[Image.fromarray(source)] for source in e.sources[:n]]
    prompts = [data.RECOLOUR.format(colour=colour) for colour in wanted]
    images = draw(pipe, prompts, s, s.seed, refs)
    hits = [colours.dominant(image)[0] == colour
            for image, colour in zip(images, wanted, strict=True)]
    return {"success": float(np.mean(hits)), "n": float(len(hits))}


def diversity(pipe: Any, prompts: list[str], s: Settings, seeds: int = 4) -> dict[str, Any]:
    """Also per prompt: its mean distance between seeds, and how many distinct dominant colour
    words its seeds were drawn in (a mean over prompts can hide prompts whose seeds all look
    alike)."""
    stack = np.stack([draw(pipe, prompts, s, seed) for seed in range(seeds)]).astype(np.float32)
    pairs = [(i, j) for i in range(seeds) for j in range(i + 1, seeds)]
    per_prompt = {prompt: {
        "between_seeds": float(np.mean([np.abs(stack[i, k] - stack[j, k]).mean()
                                        for i, j in pairs])),
        "colours": len({colours.dominant(stack[i, k].astype(np.uint8))[0]
                        for i in range(seeds)})} for k, prompt in enumerate(prompts)}
    seed_distances = [v["between_seeds"] for v in per_prompt.values()]
    between_seeds = np.mean(seed_distances)
    p = len(prompts)
    between_prompts = np.mean([np.abs(stack[:, i] - stack[:, j]).mean()
                               for i in range(p) for j in range(i + 1, p)])
    return {"between_seeds": float(between_seeds), "between_prompts": float(between_prompts),
            "ratio": float(between_seeds / between_prompts),
            "median_between_seeds": float(np.median(seed_distances)),
            "visible": float(np.mean([d > VISIBLE for d in seed_distances])),
            "several_colours": float(np.mean([v["colours"] > 1 for v in per_prompt.values()])),
            "per_prompt": per_prompt}


def bare_names(e: EvalSet, n: int) -> list[str]:
    """n object names spread evenly over the evaluation set's held-out objects, in its order:
    each held-out caption less its colour word (data.compose put that word in)."""
    names: list[str] = []
    for (_, c), caption in zip(e.pairs, e.captions, strict=True):
        words = caption.split()
        words.remove(data.COLOUR_NAMES[c])
        name = " ".join(words)
        if name not in names:
            names.append(name)
    if n > len(names):
        raise ValueError(f"asked for {n} bare names; the evaluation set has {len(names)}")
    return [names[i * len(names) // n] for i in range(n)]


def seconds_per_image(pipe: Any, s: Settings, n: int = 4) -> float:
    started = time.perf_counter()
    draw(pipe, ["red apple"] * n, s, s.seed)
    return (time.perf_counter() - started) / n
