"""Which sample and which noise level each training step sees.

t = sigmoid(n), n ~ N(0, 1) (logit-normal, as in SD3/FLUX), then the same resolution-dependent
shift FLUX's sampler applies, t' = s*t / (1 + (s - 1)*t) with s = exp(mu(image tokens)) from the
scheduler config (mu = 0.5 at 256 tokens .. 1.15 at 4096). Training then spends its steps where
1024² sampling spends its steps. Samples come in a seeded random order, reshuffled every epoch.
"""

from __future__ import annotations

import math
import random
from typing import Any

ShiftParams = tuple[float, float, float, float]


def shift_params(config: Any) -> ShiftParams:
    """(base_seq_len, max_seq_len, base_shift, max_shift) of the FLUX dynamic shift; FLUX.1's
    values when the scheduler has none."""

    def get(name: str, default: float) -> float:
        value = config.get(name) if hasattr(config, "get") else getattr(config, name, None)
        return float(value if value is not None else default)

    return (
        get("base_image_seq_len", 256),
        get("max_image_seq_len", 4096),
        get("base_shift", 0.5),
        get("max_shift", 1.15),
    )


def sample_sigma(gen: Any, tokens: int, params: ShiftParams) -> float:
    """Logit-normal t, shifted like FlowMatchEulerDiscreteScheduler's dynamic shift (the mu of
    diffusers' calculate_shift for this many image tokens)."""
    import torch

    base_len, max_len, base_shift, max_shift = params
    slope = (max_shift - base_shift) / (max_len - base_len)
    mu = base_shift + slope * (tokens - base_len)
    s = math.exp(mu)
    t = float(torch.sigmoid(torch.randn((1,), generator=gen)).item())
    return s * t / (1.0 + (s - 1.0) * t)


class SampleOrder:
    """Every sample once per epoch, in a seeded random order."""

    def __init__(self, count: int, seed: int) -> None:
        self._rng = random.Random(seed)
        self._count = count
        self._queue: list[int] = []

    def next(self) -> int:
        if not self._queue:
            self._queue = list(range(self._count))
            self._rng.shuffle(self._queue)
        return self._queue.pop()
