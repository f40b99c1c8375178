"""Seeding torch for one block without disturbing anyone else's random state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def seeded(seed: int, device: Any = None) -> Iterator[None]:
    """Seed torch's global RNG (model initialisers and peft draw from it) for the block, then
    restore the caller's state: the CPU's, and a CUDA `device`'s when one is given."""
    import torch

    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
