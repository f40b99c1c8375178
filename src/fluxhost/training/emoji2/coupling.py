"""Which noise trains which answer, for a caption with several right answers (a bare object name:
any of its training colours).

Drawn independently, every noise is paired with every colour, and the regression target at high
noise is their average: a small model learns that average well and the choice between colours
poorly, so the bare name came out in one colour for every seed ("apple" yellow at step 8,476).
Coupled, each noise trains only the colour it is nearest to: the exact optimal-transport map
from the Gaussian to the caption's K answers with equal weights (semi-discrete OT, quadratic
cost). The answer is then a function of the noise the model sees from the first step on, paths
do not cross, and the marginal over answers stays uniform: the distribution learnt is the same,
only easier to learn (the limit of minibatch OT flow matching: Tong et al. 2023, Pooladian et al.
2023).

The cells are Laguerre cells: noise n goes to argmax_k (n . x_k - |x_k|^2 / 2 - psi_k), with the
potentials psi set so that each cell holds 1/K of the Gaussian (estimated on SAMPLES fixed
draws; without them the answer with the smallest norm would take most of the noise).
"""

from __future__ import annotations

from typing import Any

SAMPLES = 4096
ITERATIONS = 400
SEED = 2107


def potentials(targets: Any) -> Any:
    """psi (K) equalising the Gaussian mass of the K targets' (K x D) cells."""
    import torch

    gen = torch.Generator().manual_seed(SEED)
    noise = torch.randn(SAMPLES, targets.shape[1], generator=gen, dtype=targets.dtype)
    base = noise @ targets.T - 0.5 * (targets * targets).sum(dim=1)
    psi = torch.zeros(targets.shape[0], dtype=targets.dtype)
    step = float(base.std())
    k = targets.shape[0]
    for i in range(ITERATIONS):
        mass = torch.bincount((base - psi).argmax(dim=1), minlength=k).to(targets.dtype)
        psi += step * (mass / SAMPLES - 1.0 / k) * (1.0 - i / ITERATIONS)
    return psi


def choose(noise: Any, targets: Any, psi: Any) -> int:
    """The index of the target whose cell holds `noise` (D)."""
    scores = targets @ noise - 0.5 * (targets * targets).sum(dim=1) - psi
    return int(scores.argmax())


def masses(targets: Any, psi: Any, samples: int = SAMPLES, seed: int = 0) -> Any:
    """Each cell's share of fresh Gaussian draws (the check on potentials)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(samples, targets.shape[1], generator=gen, dtype=targets.dtype)
    scores = noise @ targets.T - 0.5 * (targets * targets).sum(dim=1) - psi
    return torch.bincount(scores.argmax(dim=1), minlength=targets.shape[0]).float() / samples
