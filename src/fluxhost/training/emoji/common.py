"""What every training stage shares: resumable checkpoints, time-boxed loops, the work layout.

A checkpoint holds everything a stage needs to continue as if never stopped: model and EMA
weights, optimizer state, step count, and the state of the stage's private torch Generator (the
only RNG the loops draw from, seeded per stage), so a run split across sessions draws the same
batches and noise as one uninterrupted run. Checkpoints are written to a temporary file and
renamed, so a process killed mid-write leaves the previous one intact.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKPOINT = "latest.pt"


def setup_torch(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def stage_dir(work: Path, stage: str) -> Path:
    path = work / stage
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_checkpoint(directory: Path, state: dict[str, Any]) -> None:
    import torch

    tmp = directory / f".{CHECKPOINT}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, directory / CHECKPOINT)


def load_checkpoint(directory: Path) -> dict[str, Any] | None:
    import torch

    path = directory / CHECKPOINT
    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return state


def require_checkpoint(work: Path, stage: str) -> dict[str, Any]:
    state = load_checkpoint(work / stage)
    if state is None:
        raise FileNotFoundError(f"no {stage} checkpoint in {work / stage}: run stage {stage!r}")
    return state


@dataclass(frozen=True)
class Budget:
    """When a stage stops: at `steps` total, or after `minutes` of this run, whichever first."""

    steps: int
    minutes: float | None = None
    checkpoint_minutes: float = 3.0
    log_every: int = 50


def run_loop(
    budget: Budget,
    start_step: int,
    step_fn: Callable[[int], float],
    save_fn: Callable[[int], None],
    log_fn: Callable[[int, float, float], None],
) -> int:
    """Call step_fn(step) until the budget is spent, saving every few minutes and at the end;
    returns the step reached. log_fn(step, mean loss since last log, steps per second)."""
    started = last_save = last_log = time.monotonic()
    step, losses = start_step, []
    while step < budget.steps:
        if budget.minutes is not None and time.monotonic() - started > budget.minutes * 60:
            break
        losses.append(step_fn(step))
        step += 1
        if step % budget.log_every == 0:
            now = time.monotonic()
            log_fn(step, sum(losses) / len(losses), budget.log_every / (now - last_log))
            losses, last_log = [], now
        if time.monotonic() - last_save > budget.checkpoint_minutes * 60:
            save_fn(step)
            last_save = time.monotonic()
    save_fn(step)
    return step


def update_ema(ema: Any, model: Any, decay: float, step: int) -> None:
    """EMA with the usual warm-up, min(decay, (1 + step) / (10 + step)): a plain 0.999 EMA
    started from random weights still remembers them hundreds of steps later."""
    import torch

    decay = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters(), strict=True):
            e.lerp_(p, 1.0 - decay)
