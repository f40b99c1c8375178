"""Which noise trains which answer, for a caption with several right answers (a bare object name:
any of its training colours).

Drawn independently, every noise is paired with every colour, and the regression target at high
noise is their average: the small model learnt that average and not the choice, so the bare
name came out in one colour for every seed ("apple" yellow for 6 of 6 seeds at step 8,476 and
CFG 4; orange or yellow, never green or pink, at CFG 1).
Coupled, the noise decides the colour by a rule the model can learn: each colour word has an
*axis*, the mean direction in latent space from an object's average look to its look in that
colour (colour_axes, over every training combination), and a noise trains the available colour
whose axis it points along most. The rule is the same for every object, so every bare-name
sample of every object teaches it (a rule per object, the exact optimal transport map, was
tried first: 1,500 steps gave each object ~24 samples to learn it from, and nothing changed).

The marginal over a caption's answers stays uniform, as in the data: scores n . axis_k - psi_k
with potentials psi set so that each of the K cells holds 1/K of the Gaussian (potentials,
estimated on SAMPLES fixed draws; the axes are correlated, orange lying between red and yellow,
and without psi the cells would be unequal). The learnt distribution is the data's; only which
noise leads to which colour is chosen, as in minibatch optimal-transport flow matching (Tong et
al. 2023, Pooladian et al. 2023).
"""

from __future__ import annotations

from typing import Any

SAMPLES = 4096
ITERATIONS = 400
SEED = 2107


def colour_axes(bank: Any, heldout: Any) -> Any:
    """colours x D unit axes from bank latents (objects x colours x ...) over training cells."""
    import torch

    flat = bank.flatten(2).float()
    keep = torch.as_tensor(~heldout, dtype=flat.dtype).unsqueeze(-1)
    mean = (flat * keep).sum(dim=1, keepdim=True) / keep.sum(dim=1, keepdim=True)
    axes = ((flat - mean) * keep).sum(dim=0) / keep.sum(dim=0)
    return axes / axes.norm(dim=1, keepdim=True)


def cells(noise: Any, axes: Any, psi: Any) -> Any:
    """The cell (an index into axes) of each noise row (N x D)."""
    return (noise @ axes.T - psi).argmax(dim=1)


def potentials(axes: Any) -> Any:
    """psi (K) giving each of the K axes' cells 1/K of the Gaussian."""
    import torch

    gen = torch.Generator().manual_seed(SEED)
    noise = torch.randn(SAMPLES, axes.shape[1], generator=gen, dtype=axes.dtype)
    psi = torch.zeros(axes.shape[0], dtype=axes.dtype)
    k = axes.shape[0]
    for i in range(ITERATIONS):
        mass = torch.bincount(cells(noise, axes, psi), minlength=k).to(axes.dtype)
        psi += (mass / SAMPLES - 1.0 / k) * (1.0 - i / ITERATIONS)
    return psi


def choose(noise: Any, axes: Any, psi: Any) -> int:
    """The cell of one noise (D)."""
    return int(cells(noise[None], axes, psi)[0])


def masses(axes: Any, psi: Any, samples: int = SAMPLES, seed: int = 0) -> Any:
    """Each cell's share of fresh Gaussian draws (the check on potentials)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(samples, axes.shape[1], generator=gen, dtype=axes.dtype)
    return torch.bincount(cells(noise, axes, psi), minlength=axes.shape[0]).float() / samples
