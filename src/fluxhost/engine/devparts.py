"""What the dev model set's builders share while one build runs (fluxhost.engine.devmodels)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")


class DevParts:
    """Components built once per build and saved into several entries of the set: FLUX.1's
    pipelines all hold the same text encoders, tokenizers and VAE, like BFL's releases."""

    def __init__(self) -> None:
        self._parts: dict[str, Any] = {}

    def get(self, name: str, build: Callable[[], T]) -> T:
        """The part `name`, built by `build()` on first use."""
        if name not in self._parts:
            self._parts[name] = build()
        return cast("T", self._parts[name])


# Writes one entry of the set (a save_pretrained directory) to its path.
DevBuilder = Callable[[Path, DevParts], None]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map: the alphabet of the byte-level BPE
    tokenizers the dev set builds (CLIP, Qwen, Mistral)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}
