"""Stage `data`: objects, their recoloured images, the held-out rule, captions and instructions.

From the gen-1 dataset (every single-code-point Noto emoji at 64x64, `emoji.dataset`):

- An emoji is an *object* when its coloured pixels (colours.coloured_mask) cover at least
  MIN_COLOURED of the image, one colour word holds at least MIN_SHARE of them, and its *object
  name* -- its caption without colour words ("red apple" -> "apple", "large blue circle" ->
  "large circle") -- has at most MAX_OBJECT_WORDS words; the first emoji with a name is that
  object's base.
- The *bank* holds one image per (object, colour word): a native emoji where one has that
  object name and dominant colour (the real "blue heart"), else the base recoloured
  (colours.recolour). Its composed caption puts the colour word where the base caption had one,
  else in front ("rocket" -> "blue rocket").
- Held out ("unseen combinations", fixed rule): a combination is held out when the first 8 hex
  digits of sha256(composed caption) are 0 mod HOLDOUT_MODULUS, or it is one the issue names
  (NAMED_HELDOUT), as long as the object keeps at least MIN_TRAIN_COLOURS training colours. A
  held-out combination trains nothing: not as a target, not as an edit's input, and a native
  emoji with that caption is left out too. Its words all train, in other combinations.

Tasks the transformer stage draws from (transformer.TASKS): text to image on the bank (composed
captions; sometimes the bare object name, whose answer is then any colour: one caption, many
images, which is what makes seeds matter), text to image on every other native emoji, and three
edits with reference images: recolour ("make it blue"), swap ("turn it into a book", same
colour), combine ("put them side by side": two references, the target both at half size).

Outputs under DIR/data: bank.npy (objects x colours x 64 x 64 x 3 uint8), data.json.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fluxhost.training.emoji2 import colours

HOLDOUT_MODULUS = 8
NAMED_HELDOUT = ("blue apple", "red book", "green heart")
MIN_COLOURED, MIN_SHARE, MIN_TRAIN_COLOURS = 0.2, 0.6, 4
MAX_OBJECT_WORDS = 2  # short names: fewer, plainer objects for a CPU-sized model
COLOUR_NAMES = tuple(colours.COLOURS)
RECOLOUR = "make it {colour}"
SWAP = "turn it into a {object}"
COMBINE = "put them side by side"


@dataclass(frozen=True)
class Data:
    bank: np.ndarray  # objects x colours x 64 x 64 x 3 uint8
    objects: list[str]
    captions: list[list[str]]  # [object][colour] composed caption
    heldout: np.ndarray  # objects x colours bool
    natives: list[tuple[int, str]]  # (dataset index, caption) of native emoji that train
    images: np.ndarray  # the gen-1 dataset images

    def prompts(self) -> list[str]:
        """Every prompt training or the bench encodes; index 0 is the empty prompt."""
        found = [""]
        found += [c for row in self.captions for c in row]
        found += self.objects
        found += [caption for _, caption in self.natives]
        found += [RECOLOUR.format(colour=c) for c in COLOUR_NAMES]
        found += [SWAP.format(object=o) for o in self.objects]
        found.append(COMBINE)
        return list(dict.fromkeys(found))


def object_name(caption: str) -> str:
    words = [w for w in caption.split()
             if w not in colours.COLOURS and w not in colours.OTHER_COLOUR_WORDS]
    return " ".join(words)


def compose(base_caption: str, colour: str) -> str:
    words = base_caption.split()
    for i, w in enumerate(words):
        if w in colours.COLOURS or w in colours.OTHER_COLOUR_WORDS:
            return " ".join([*words[:i], colour, *words[i + 1:]])
    return " ".join([colour, *words])


def hashed_out(caption: str) -> bool:
    return int(hashlib.sha256(caption.encode()).hexdigest()[:8], 16) % HOLDOUT_MODULUS == 0


def find_objects(images: np.ndarray, captions: list[str]) -> dict[str, list[int]]:
    """object name -> dataset indices of the emoji with that name (the first is the base)."""
    found: dict[str, list[int]] = {}
    for i, caption in enumerate(captions):
        name = object_name(caption)
        if not name or len(name.split()) > MAX_OBJECT_WORDS:
            continue
        _, share, fraction = colours.dominant(images[i])
        if fraction >= MIN_COLOURED and share >= MIN_SHARE:
            found.setdefault(name, []).append(i)
    return found


def heldout_rule(captions: list[list[str]]) -> np.ndarray:
    held = np.array([[hashed_out(c) or c in NAMED_HELDOUT for c in row] for row in captions])
    for i, row in enumerate(captions):
        if (~held[i]).sum() < MIN_TRAIN_COLOURS:
            held[i] = [c in NAMED_HELDOUT for c in row]
    return held


def build_bank(images: np.ndarray, captions: list[str],
               objects: dict[str, list[int]]) -> tuple[np.ndarray, list[list[str]]]:
    bank = np.zeros((len(objects), len(COLOUR_NAMES), *images.shape[1:]), dtype=np.uint8)
    composed: list[list[str]] = []
    for k, indices in enumerate(objects.values()):
        natives = {colours.dominant(images[i])[0]: i for i in reversed(indices)}
        base = indices[0]
        for j, colour in enumerate(COLOUR_NAMES):
            source = natives.get(colour)
            bank[k, j] = images[source] if source is not None else colours.recolour(
                images[base], colour)
        composed.append([compose(captions[base], c) for c in COLOUR_NAMES])
    return bank, composed


def build(work: Path, limit: int | None = None) -> Data:
    """The data (written to DIR/data, or read back when there). `limit`: only the first
    `limit` dataset emoji (the smoke test)."""
    from fluxhost.training.emoji import dataset

    out = work / "data"
    if (out / "data.json").is_file():
        return load(work)
    images, entries = dataset.load(work)
    if limit is not None:
        images, entries = images[:limit], entries[:limit]
    captions = [e.caption for e in entries]
    objects = find_objects(images, captions)
    bank, composed = build_bank(images, captions, objects)
    held = heldout_rule(composed)
    held_captions = {c for row, h in zip(composed, held, strict=True)
                     for c, x in zip(row, h, strict=True) if x}
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "bank.npy", bank)
    meta: dict[str, Any] = {
        "objects": list(objects), "captions": composed, "heldout": held.tolist(),
        "natives": [[i, c] for i, c in enumerate(captions) if c not in held_captions],
        "limit": limit,
    }
    (out / "data.json").write_text(json.dumps(meta, indent=0))
    print(f"data: {len(objects)} objects x {len(COLOUR_NAMES)} colours, "
          f"{int(held.sum())} combinations held out, {len(meta['natives'])} native emoji train",
          flush=True)
    return load(work)


def load(work: Path) -> Data:
    from fluxhost.training.emoji import dataset

    meta = json.loads((work / "data" / "data.json").read_text())
    images, _ = dataset.load(work)
    return Data(
        bank=np.load(work / "data" / "bank.npy"), objects=meta["objects"],
        captions=meta["captions"], heldout=np.array(meta["heldout"], dtype=bool),
        natives=[(int(i), str(c)) for i, c in meta["natives"]], images=images,
    )


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two 64x64 images at half size, left and right, centred vertically on white."""
    from PIL import Image

    size = left.shape[0]
    half = size // 2
    canvas = np.full_like(left, 255)
    for image, x in ((left, 0), (right, half)):
        small = Image.fromarray(image).resize((half, half), Image.Resampling.LANCZOS)
        canvas[half // 2:half // 2 + half, x:x + half] = np.asarray(small)
    return canvas
