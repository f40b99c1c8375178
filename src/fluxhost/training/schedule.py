"""Which sample and which noise level each training step sees.

t = sigmoid(n), n ~ N(0, 1) (logit-normal, as in SD3/FLUX), then the same resolution-dependent
shift the model's sampler applies, t' = s*t / (1 + (s - 1)*t), s from the family
(TrainingFamily.time_shift; FLUX.1: exp(mu(image tokens)) from the scheduler config, mu = 0.5 at
256 tokens .. 1.15 at 4096). Training then spends its steps where sampling spends its steps.
Samples come in a seeded random order, reshuffled every epoch.
"""

from __future__ import annotations

import random
from typing import Any


def sample_sigma(gen: Any, shift: float) -> float:
    """Logit-normal t, shifted by `shift` as FlowMatchEulerDiscreteScheduler shifts its sigmas
    (the family's TrainingFamily.time_shift for the image's token count)."""
    import torch

    t = float(torch.sigmoid(torch.randn((1,), generator=gen)).item())
    return shift * t / (1.0 + (shift - 1.0) * t)


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
