"""Colour words and the hue operations that make recoloured emoji (numpy, vectorised).

Seven colour words, each a hue band on the HSV wheel and a centre hue that recolouring sets.
A pixel "has colour" when it is saturated and not dark: white backgrounds, black outlines and
greys keep their value, so recolouring changes the object and leaves the drawing's shading.
"""

from __future__ import annotations

import numpy as np

# name -> (centre hue used when recolouring, band [lo, hi) in degrees that names a hue).
COLOURS: dict[str, tuple[float, tuple[float, float]]] = {
    "red": (0.0, (345.0, 15.0)),
    "orange": (28.0, (15.0, 40.0)),
    "yellow": (52.0, (40.0, 70.0)),
    "green": (120.0, (70.0, 170.0)),
    "blue": (218.0, (170.0, 255.0)),
    "purple": (275.0, (255.0, 295.0)),
    "pink": (325.0, (295.0, 345.0)),
}
# Colour words in captions that are not hue bands: dropped from object names all the same.
OTHER_COLOUR_WORDS = ("black", "white", "brown")
SATURATED, BRIGHT = 0.35, 0.3


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """uint8 ... x 3 -> float ... x 3 (hue in degrees, saturation and value in [0, 1])."""
    x = rgb.astype(np.float32) / 255.0
    mx, mn = x.max(-1), x.min(-1)
    delta = mx - mn
    safe = np.where(delta > 0, delta, 1.0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    hue = np.where(mx == r, ((g - b) / safe) % 6,
                   np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) * 60.0
    hue = np.where(delta > 0, hue, 0.0)
    sat = np.where(mx > 0, delta / np.where(mx > 0, mx, 1.0), 0.0)
    return np.stack([hue, sat, mx], -1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0] / 60.0, hsv[..., 1], hsv[..., 2]
    c = v * s
    x = c * (1 - np.abs(h % 2 - 1))
    zero = np.zeros_like(c)
    sector = np.floor(h).astype(int) % 6
    table = [(c, x, zero), (x, c, zero), (zero, c, x), (zero, x, c), (x, zero, c), (c, zero, x)]
    rgb = np.zeros(hsv.shape, dtype=np.float32)
    for k, (r, g, b) in enumerate(table):
        mask = sector == k
        rgb[mask] = np.stack([r[mask], g[mask], b[mask]], -1)
    rgb += (v - c)[..., None]
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def coloured_mask(hsv: np.ndarray) -> np.ndarray:
    return (hsv[..., 1] >= SATURATED) & (hsv[..., 2] >= BRIGHT)


def band_of(hue: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    lo, hi = band
    return (hue >= lo) & (hue < hi) if lo < hi else (hue >= lo) | (hue < hi)


def colour_shares(rgb: np.ndarray) -> tuple[dict[str, float], float]:
    """Each colour word's share of the coloured pixels, and the coloured fraction of the image."""
    hsv = rgb_to_hsv(rgb)
    mask = coloured_mask(hsv)
    total = int(mask.sum())
    fraction = total / mask.size
    if total == 0:
        return dict.fromkeys(COLOURS, 0.0), 0.0
    hue = hsv[..., 0][mask]
    return {name: float(band_of(hue, band).sum()) / total
            for name, (_, band) in COLOURS.items()}, fraction


def dominant(rgb: np.ndarray) -> tuple[str, float, float]:
    """(colour word, its share of the coloured pixels, coloured fraction of the image)."""
    shares, fraction = colour_shares(rgb)
    name = max(shares, key=lambda k: shares[k])
    return name, shares[name], fraction


def recolour(rgb: np.ndarray, colour: str) -> np.ndarray:
    """Every coloured pixel set to `colour`'s hue, saturation raised to at least 0.6; the rest
    (white, black, grey) unchanged. Works on one image or a stack."""
    hsv = rgb_to_hsv(rgb)
    mask = coloured_mask(hsv)
    hsv[..., 0] = np.where(mask, COLOURS[colour][0], hsv[..., 0])
    hsv[..., 1] = np.where(mask, np.maximum(hsv[..., 1], 0.6), hsv[..., 1])
    out = hsv_to_rgb(hsv)
    return np.where(mask[..., None], out, rgb)
