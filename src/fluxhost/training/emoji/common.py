"""What every training stage shares: resumable checkpoints, time-boxed loops, the work layout.

A checkpoint holds everything a stage needs to continue as if never stopped: model and EMA
weights, optimizer state, step count, and the state of the stage's private torch Generator (the
only RNG the loops draw from, seeded per stage), so a run split across sessions draws the same
batches and noise as one uninterrupted run. Checkpoints are written to a temporary file and
renamed, so a process killed mid-write leaves the previous one intact.
"""

from __future__ import annotations

import math
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


def flow_step(model: Any, opt: Any, ema: Any, step: int, x0: Any, sigma: Any, noise: Any,
              forward: Callable[[Any], Any], *, lr: float, warmup: int, ema_decay: float
              ) -> float:
    """One rectified-flow optimizer step, shared by both emoji recipes: x_t between the data and
    the noise at sigma, linear LR warm-up, velocity loss, clipped step, EMA update. `forward`
    maps x_t to the model's velocity (each recipe conditions it its own way)."""
    xt = (1 - sigma[:, None, None]) * x0 + sigma[:, None, None] * noise
    for group in opt.param_groups:
        group["lr"] = lr * min(1.0, (step + 1) / warmup)
    loss = (forward(xt) - (noise - x0)).pow(2).mean()
    return optimizer_step(model, opt, ema, loss, step, ema_decay)


def optimizer_step(model: Any, opt: Any, ema: Any, loss: Any, step: int,
                   ema_decay: float) -> float:
    """Backward, gradients clipped to norm 1, step, EMA update; the loss as a float."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    update_ema(ema, model, ema_decay, step)
    return float(loss.detach())


def cosine_lr(base: float, step: int, total: int) -> float:
    """`base` decayed along a half cosine to a tenth of it at `total` steps."""
    return base * (0.1 + 0.45 * (1 + math.cos(math.pi * min(step / total, 1.0))))


def resume(out: Path, stage: str, model: Any, ema: Any, opt: Any, gen: Any) -> int:
    """Load a stage's checkpoint (as stage_callbacks saves it) into model, EMA, optimizer and
    generator; the step to continue from (0 without one)."""
    state = load_checkpoint(out)
    if state is None:
        return 0
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    opt.load_state_dict(state["opt"])
    gen.set_state(state["gen"])
    print(f"{stage}: resuming at step {state['step']}", flush=True)
    return int(state["step"])


def stage_callbacks(out: Path, model: Any, ema: Any, opt: Any, gen: Any,
                    stage: str = "transformer"
                    ) -> tuple[Callable[[int], None], Callable[[int, float, float], None]]:
    """run_loop's save and log callbacks for a training stage (the checkpoint's keys are what
    `resume` and both recipes' stages read)."""
    def save_fn(step: int) -> None:
        save_checkpoint(out, {
            "model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
            "gen": gen.get_state(), "step": step,
        })

    def log_fn(step: int, loss: float, rate: float) -> None:
        print(f"{stage} step {step} loss {loss:.4f} {rate:.2f} it/s", flush=True)

    return save_fn, log_fn
