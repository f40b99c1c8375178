"""Stage `dataset`: every single-code-point emoji of Noto Color Emoji at 64x64, with captions.

Source: Debian's fonts-noto-color-emoji (`apt-get install -y fonts-noto-color-emoji`), a CBDT
bitmap font whose only strike is 109 px; glyphs are drawn there on a transparent canvas, cropped
to a centred square around their ink, composited on white and downsampled (LANCZOS) to 64x64.
Only single code points with a Unicode name are used (no ZWJ sequences, flags or skin tones), so
`unicodedata.name` gives every image a caption: lower-cased, hyphens as spaces ("red apple",
"face with tears of joy").

Held-out split ("unseen combinations"): an emoji is held out when its caption has at least two
words, each of which also occurs in at least two other captions, and a hash of its caption falls
in the first 1/HOLDOUT_MODULUS of the hash space. Its image never trains any model, while every
word of its caption does (in other combinations), so generating it asks for a new combination
of known words ("green heart" from "green apple" and "red heart").

Outputs under DIR/dataset: images.npy (N x 64 x 64 x 3 uint8), meta.json (code point, caption,
split per image, plus the font's licence and package version).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_PACKAGE = "fonts-noto-color-emoji"
FONT_LICENSE = "OFL-1.1 (SIL Open Font License 1.1), Copyright 2013-2017 Google Inc."
STRIKE_SIZE = 109  # the font's only bitmap strike
SIZE = 64
HOLDOUT_MODULUS = 8
# Where single-code-point emoji live; code points the font lacks are skipped.
RANGES = (
    (0x00A9, 0x00AE),
    (0x203C, 0x2049),
    (0x2122, 0x2139),
    (0x2194, 0x21AA),
    (0x231A, 0x23FF),
    (0x24C2, 0x24C2),
    (0x25AA, 0x27BF),
    (0x2934, 0x2935),
    (0x2B05, 0x2B55),
    (0x3030, 0x3299),
    (0x1F004, 0x1F251),
    (0x1F300, 0x1FAFF),
)


@dataclass(frozen=True)
class Entry:
    codepoint: int
    caption: str
    split: str  # "train" or "heldout"


def caption_of(char: str) -> str:
    return unicodedata.name(char).lower().replace("-", " ")


def _render(font: ImageFont.FreeTypeFont, char: str) -> Image.Image | None:
    """The glyph at 64x64 on white, or None when the font draws nothing for it."""
    canvas = Image.new("RGBA", (2 * STRIKE_SIZE, 2 * STRIKE_SIZE), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((STRIKE_SIZE // 2, STRIKE_SIZE // 2), char, font=font,
                                embedded_color=True)
    bbox = canvas.getchannel("A").getbbox()
    if bbox is None:
        return None
    left, top, right, bottom = bbox
    # A square around the ink's centre keeps the aspect ratio; 4% margin so edges stay visible.
    side = int(max(right - left, bottom - top) * 1.08) + 2
    cx, cy = (left + right) // 2, (top + bottom) // 2
    square = canvas.crop((cx - side // 2, cy - side // 2, cx - side // 2 + side,
                          cy - side // 2 + side))
    white = Image.new("RGBA", square.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, square).convert("RGB")
    return flat.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def render_all(font_path: Path = FONT_PATH) -> list[tuple[int, Image.Image]]:
    if not font_path.is_file():
        raise FileNotFoundError(
            f"{font_path} is missing: apt-get install -y {FONT_PACKAGE}"
        )
    font = ImageFont.truetype(str(font_path), STRIKE_SIZE)
    # The glyph drawn for a code point the font lacks (private use area): skip its look-alikes.
    missing = _render(font, "\ue000")
    missing_bytes = None if missing is None else missing.tobytes()
    found: list[tuple[int, Image.Image]] = []
    for start, end in RANGES:
        for cp in range(start, end + 1):
            char = chr(cp)
            if not unicodedata.name(char, "") or unicodedata.category(char).startswith("M"):
                continue
            image = _render(font, char)
            if image is not None and image.tobytes() != missing_bytes:
                found.append((cp, image))
    return found


def _hash_fraction(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % HOLDOUT_MODULUS


def split_captions(captions: list[str]) -> list[str]:
    """'train' or 'heldout' per caption (see the module docstring for the rule)."""
    counts = Counter(word for caption in captions for word in set(caption.split()))
    splits = []
    for caption in captions:
        words = caption.split()
        held = (
            len(words) >= 2
            and all(counts[word] >= 3 for word in words)
            and _hash_fraction(caption) == 0
        )
        splits.append("heldout" if held else "train")
    # Two held-out captions may share a rare word; keep every word trainable.
    train_counts = Counter(
        word for caption, split in zip(captions, splits, strict=True) if split == "train"
        for word in set(caption.split())
    )
    for i, caption in enumerate(captions):
        if splits[i] == "heldout" and any(train_counts[w] == 0 for w in caption.split()):
            splits[i] = "train"
            train_counts.update(set(caption.split()))
    return splits


def _font_version() -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", FONT_PACKAGE],
            capture_output=True, text=True, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build(work: Path) -> Path:
    out = work / "dataset"
    if (out / "meta.json").is_file():
        print(f"dataset: {out} exists, kept")
        return out
    rendered = render_all()
    captions = [caption_of(chr(cp)) for cp, _ in rendered]
    splits = split_captions(captions)
    out.mkdir(parents=True, exist_ok=True)
    images = np.stack([np.asarray(image, dtype=np.uint8) for _, image in rendered])
    np.save(out / "images.npy", images)
    meta: dict[str, Any] = {
        "source": f"{FONT_PATH} (Debian package {FONT_PACKAGE} {_font_version()})",
        "license": FONT_LICENSE,
        "captions": "unicodedata.name, lower-cased, hyphens as spaces",
        "size": SIZE,
        "entries": [
            {"codepoint": f"U+{cp:04X}", "caption": c, "split": s}
            for (cp, _), c, s in zip(rendered, captions, splits, strict=True)
        ],
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    held = splits.count("heldout")
    print(f"dataset: {len(rendered)} emoji ({len(rendered) - held} train, {held} held out)")
    return out


def load(work: Path) -> tuple[np.ndarray, list[Entry]]:
    """Images (N x 64 x 64 x 3 uint8) and their entries, in the same order."""
    root = work / "dataset"
    meta = json.loads((root / "meta.json").read_text())
    entries = [
        Entry(int(e["codepoint"][2:], 16), e["caption"], e["split"]) for e in meta["entries"]
    ]
    return np.load(root / "images.npy"), entries
