"""LoRA training: a few user images and captions in, one LoRA file out, on the engine's base model.

Objective -- rectified flow, the way FLUX.1 is trained and sampled:

- Images are resized to about `resolution`² pixels (aspect ratio kept, clamped to 1:2..2:1 by a
  centre crop, sides multiples of 16) and, like the captions, encoded once by the frozen VAE and
  text encoders (training/examples.py). How a model encodes captions, packs latents and calls
  its transformer is its family's (fluxhost.engine.families.protocol.TrainingFamily; FLUX.1:
  fluxhost.engine.families.flux1.training; FLUX.2 [klein], when TrainSpec.base_kind names a
  klein kind: fluxhost.engine.families.flux2.training), so training sees exactly the
  conditioning that generation will.
- Per step (batch size 1, samples in a seeded random order, reshuffled every epoch): a
  logit-normal t shifted like the family's sampler (training/schedule.py),
  noisy = (1 - t')*x0 + t'*noise, target = noise - x0, loss = MSE(transformer(noisy), target).
- AdamW (no weight decay: in `full` mode decay would add a shrink-every-weight term to the
  difference the LoRA is extracted from, one no low rank can represent), gradient norm clipped
  to 1.0, `iterations` optimizer steps.

Modes (`lora`: an adapter trains; `full`: the targeted weights train and their change is
factored into a LoRA) and their memory: training/trainables.py. Output: training/output.py.

The engine's serving pipelines are never touched: `train` loads its own base pipeline from the
engine's model source (reusing, read-only and without any lock, the engine's loaded text encoders
and VAE when there are any, which saves ~10 GB on FLUX.1-dev; never its tokenizers, which are not
safe to call from two threads).

torch, diffusers and peft are imported inside functions: the API process imports this package.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fluxhost.engine.families import TRAINING, training_family
from fluxhost.engine.pipelines import empty_device_cache
from fluxhost.engine.types import StopCheck
from fluxhost.training.examples import Example, prepare_examples
from fluxhost.training.output import write_lora
from fluxhost.training.schedule import SampleOrder, sample_sigma
from fluxhost.training.trainables import FullTrainable, LoraTrainable, Trainable

if TYPE_CHECKING:
    from PIL import Image

    from fluxhost.engine.families.protocol import TrainingFamily
    from fluxhost.engine.interface import TrainingEngine

FinetuneType = Literal["lora", "full"]
Priority = Literal["speed", "quality", "high_res_only"]
ProgressCallback = Callable[[float], None]

# Training side length (pixels, for a square image; other aspect ratios keep about this area).
# Real FLUX: 512 trains fast and still generalises to 1024 output; 1024 is FLUX.1's native size.
# high_res_only trains only at the native size too (no mixing in lower resolutions).
RESOLUTIONS: dict[str, int] = {"speed": 512, "quality": 1024, "high_res_only": 1024}
# The dev model set's transformer is tiny and its images are noise: 64² (16 image tokens) and
# 128² (64 tokens) keep tests and the dev server fast while exercising the same code paths.
DEV_RESOLUTIONS: dict[str, int] = {"speed": 64, "quality": 128, "high_res_only": 128}

DEFAULT_LEARNING_RATES: dict[str, float] = {"lora": 1e-4, "full": 1e-5}

MAX_GRAD_NORM = 1.0
# final_loss is the mean over this many last steps: one step's loss mostly reflects its random t.
LOSS_WINDOW = 10


class TrainingStopped(Exception):
    """should_stop() returned true; no output file was written."""

    def __init__(self, step: int) -> None:
        super().__init__(f"training stopped after {step} steps")
        self.step = step


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite (learning rate too high); no output file was written."""


@dataclass(frozen=True)
class TrainSpec:
    iterations: int
    learning_rate: float | None  # None: default_learning_rate(finetune_type)
    lora_rank: int
    finetune_type: FinetuneType
    priority: Priority
    trigger_word: str  # informational here: the captions already contain it
    seed: int = 0
    # The kind (a FLUXHOST_MODELS key) whose model the LoRA is trained on: None for FLUX.1's
    # base, as before; a FLUX.2 [klein] kind ("klein-4b") trains with the klein family.
    base_kind: str | None = None


@dataclass(frozen=True)
class TrainResult:
    path: Path
    rank: int
    iterations: int
    seconds: float
    final_loss: float  # mean loss over the last LOSS_WINDOW steps


def native_size(source: str) -> int | None:
    """The one resolution a model set's manifest declares (fluxhost.engine.demo), if any."""
    from fluxhost.engine.demo import read_manifest

    manifest = read_manifest(source)
    return None if manifest is None else manifest.native_size


def resolution_for(priority: Priority, *, dev: bool) -> int:
    """Training side length in pixels for `priority`: RESOLUTIONS on real models,
    DEV_RESOLUTIONS on the dev model set."""
    table = DEV_RESOLUTIONS if dev else RESOLUTIONS
    try:
        return table[priority]
    except KeyError:
        raise ValueError(f"priority must be one of {sorted(table)}, got {priority!r}") from None


def default_learning_rate(finetune_type: FinetuneType) -> float:
    """1e-4 for lora, 1e-5 for full (full moves every weight of the targeted layers)."""
    try:
        return DEFAULT_LEARNING_RATES[finetune_type]
    except KeyError:
        raise ValueError(f"finetune_type must be 'lora' or 'full', got {finetune_type!r}") from None


def train(
    engine: TrainingEngine,
    samples: Sequence[tuple[Image.Image, str]],
    spec: TrainSpec,
    out_file: Path,
    *,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> TrainResult:
    """Train a LoRA on the engine's base model (or `spec.base_kind`'s) and write it to
    `out_file`.

    `samples`: (RGB image, caption) pairs; captions should contain the trigger word. Device and
    dtype come from the engine's settings; the resolution from `spec.priority` and whether the
    engine runs the dev model set. `on_progress(fraction)` runs after every optimizer step
    (ending at 1.0); `should_stop()` is checked before every step and before writing, and makes
    this raise TrainingStopped. Raises ValueError for an invalid spec or no samples, and
    TrainingDiverged if the loss stops being finite. Never holds the engine's locks while
    training; its serving pipelines are not modified.
    """
    from fluxhost.engine.loading import load_pipeline
    from fluxhost.engine.modelset import torch_device, torch_dtype

    _validate(samples, spec)
    if should_stop is not None and should_stop():
        raise TrainingStopped(0)
    settings = engine.settings
    kind, family = _base(engine, spec.base_kind)
    source = engine.model_sources()[kind]
    device, dtype = torch_device(settings), torch_dtype(settings)
    # Components with CPU-offload hooks belong to the engine's offload schedule; load fresh ones.
    # FLUX.1 only: the engine offers FLUX.1's loaded components; a klein run loads its own
    # Qwen3 and VAE (released once the samples are encoded).
    reuse: dict[str, Any] = {}
    if settings.cpu_offload == "none" and spec.base_kind is None:
        loaded = engine.shared_components()
        reuse = {k: loaded[k] for k in family.encoders if k in loaded}
    pipe = load_pipeline(kind, source, dtype=dtype, device=device, shared=reuse,
                         pipeline=family.pipeline)
    try:
        return train_pipeline(
            pipe,
            samples,
            spec,
            out_file,
            # A set that knows one size (the emoji64 demo) trains at it.
            resolution=native_size(source)
            or resolution_for(spec.priority, dev=engine.uses_dev_models),
            family=family,
            on_progress=on_progress,
            should_stop=should_stop,
        )
    finally:
        del pipe
        empty_device_cache()


def _base(engine: TrainingEngine, base_kind: str | None) -> tuple[str, TrainingFamily]:
    """The kind training loads and the family that trains on it (ValueError naming a kind the
    engine has no model for or whose pipeline no family trains on)."""
    if base_kind is None:
        return TRAINING.pipeline, TRAINING
    pipeline = engine.settings.kind_pipeline(base_kind)
    if pipeline is None or base_kind not in engine.model_sources():
        raise ValueError(f"no model for base kind {base_kind!r} on this server")
    return base_kind, training_family(pipeline)


def train_pipeline(
    pipe: Any,
    samples: Sequence[tuple[Image.Image, str]],
    spec: TrainSpec,
    out_file: Path,
    *,
    resolution: int,
    family: TrainingFamily = TRAINING,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> TrainResult:
    """`train` on a pipeline of `family` the caller owns, at `resolution` (see resolution_for).

    The pipeline is consumed: its transformer is modified (an adapter added, or its weights
    changed) and its text encoders and VAE are released (set to None) once their outputs are
    computed. Pass a private copy, never a serving pipeline."""
    import torch

    _validate(samples, spec)
    if should_stop is not None and should_stop():
        raise TrainingStopped(0)
    started = time.perf_counter()
    transformer = pipe.transformer
    device = next(transformer.parameters()).device
    examples = prepare_examples(family, pipe, samples, resolution, device)
    scheduler_config = pipe.scheduler.config
    # Nothing below needs the text encoders or the VAE: release them so that, when they are the
    # trainer's own copies (T5-XXL alone is ~9.5 GB in bf16), their memory can go before the
    # optimizer allocates its states.
    for name in family.encoders:
        setattr(pipe, name, None)
    empty_device_cache()

    trainer = _trainable(family, transformer, spec, device)
    optimizer = torch.optim.AdamW(trainer.params, lr=_learning_rate(spec), weight_decay=0.0)
    order = SampleOrder(len(examples), spec.seed)
    # CPU generator: the same noise and timesteps on every device.
    gen = torch.Generator("cpu").manual_seed(spec.seed)
    losses: list[float] = []
    for step in range(spec.iterations):
        if should_stop is not None and should_stop():
            raise TrainingStopped(step)
        ex = examples[order.next()]
        shift = family.time_shift(scheduler_config, ex.latents.tokens)
        loss = _step(family, transformer, ex, gen, shift, step)
        trainer.before_step()
        torch.nn.utils.clip_grad_norm_(trainer.params, MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        trainer.after_step()
        losses.append(loss)
        if on_progress is not None:
            on_progress((step + 1) / spec.iterations)

    transformer.eval()
    del optimizer
    if should_stop is not None and should_stop():
        raise TrainingStopped(spec.iterations)
    path = write_lora(family, trainer.lora_state_dict(spec.lora_rank), Path(out_file))
    window = losses[-LOSS_WINDOW:]
    return TrainResult(path=path, rank=spec.lora_rank, iterations=spec.iterations,
                       seconds=time.perf_counter() - started,
                       final_loss=sum(window) / len(window))


def _trainable(family: TrainingFamily, transformer: Any, spec: TrainSpec,
               device: Any) -> Trainable:
    """The finetune type's trainable parameters, the transformer set up to train them."""
    transformer.requires_grad_(False)
    targets = family.lora_target_modules
    trainer: Trainable
    if spec.finetune_type == "lora":
        trainer = LoraTrainable(transformer, targets, spec.lora_rank, spec.seed, device)
    else:
        trainer = FullTrainable(transformer, targets)
    if device.type == "cuda":
        # Activation memory at 1024² would otherwise dominate; the price is recomputing each
        # block's forward pass during backward.
        transformer.enable_gradient_checkpointing()
    transformer.train()
    return trainer


def _step(family: TrainingFamily, transformer: Any, ex: Example, gen: Any, shift: float,
          step: int) -> float:
    """One forward and backward pass on `ex`; its loss."""
    import torch

    x0 = ex.latents.packed
    device = x0.device
    noise = torch.randn(x0.shape, generator=gen, dtype=torch.float32)
    t = sample_sigma(gen, shift)
    noise = noise.to(device=device, dtype=x0.dtype)
    t_model = torch.full((1,), t, device=device, dtype=x0.dtype)
    noisy = (1.0 - t) * x0 + t * noise
    # In float32: in bf16 the difference of two unit-scale tensors loses low bits.
    target = noise.float() - x0.float()
    pred = family.predict(transformer, noisy, t_model, ex.latents, ex.prompt)
    loss = torch.nn.functional.mse_loss(pred.float(), target)
    loss_value = float(loss.item())
    if not math.isfinite(loss_value):
        raise TrainingDiverged(f"loss is {loss_value} at step {step + 1}; lower the lr")
    loss.backward()
    return loss_value


def _learning_rate(spec: TrainSpec) -> float:
    if spec.learning_rate is not None:
        return spec.learning_rate
    return default_learning_rate(spec.finetune_type)


def _validate(samples: Sequence[tuple[Image.Image, str]], spec: TrainSpec) -> None:
    if not samples:
        raise ValueError("no training images")
    if spec.iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {spec.iterations}")
    if spec.lora_rank < 1:
        raise ValueError(f"lora_rank must be at least 1, got {spec.lora_rank}")
    if spec.learning_rate is not None and not spec.learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {spec.learning_rate}")
    default_learning_rate(spec.finetune_type)  # validates the type
    resolution_for(spec.priority, dev=False)  # validates the priority
