"""FLUX LoRA training: a few user images and captions in, one diffusers-format LoRA file out.

Objective -- rectified flow, the way FLUX.1 is trained and sampled:

- Images are resized to about `resolution`² pixels (aspect ratio kept, clamped to 1:2..2:1 by a
  centre crop, sides multiples of 16), encoded once with the VAE (the mean of its latent
  distribution, so the run is deterministic), normalised as FLUX does,
  `(latents - shift_factor) * scaling_factor`, and packed 2x2 into tokens with
  `FluxPipeline._pack_latents` / `_prepare_latent_image_ids`.
- Each caption is encoded once, without gradients, with `pipe.encode_prompt(prompt=caption,
  prompt_2=caption)` and the T5 length the engine serves with, so training sees exactly the
  conditioning that generation will.
- Per step (batch size 1, samples in a seeded random order, reshuffled every epoch):
  t = sigmoid(n), n ~ N(0, 1) (logit-normal, as in SD3/FLUX), then the same resolution-dependent
  shift FLUX's sampler applies, t' = s*t / (1 + (s - 1)*t) with s = exp(mu(image tokens)) from
  the scheduler config (mu = 0.5 at 256 tokens .. 1.15 at 4096). Training then spends its steps
  where 1024² sampling spends its steps.
  noisy = (1 - t')*x0 + t'*noise, target = noise - x0, loss = MSE(transformer(noisy), target).
- The transformer is called exactly as FluxPipeline calls it: `timestep` is the sigma in [0, 1]
  (the pipeline passes scheduler timesteps / 1000; the model multiplies by 1000 itself), and on
  guidance-distilled models (FLUX.1-dev: `guidance_embeds`) `guidance` = 1.0, the value LoRA
  trainers for FLUX.1-dev (ai-toolkit, SimpleTuner) use; it leaves the distilled guidance
  embedding, which serving drives with the request's guidance, untouched.
- AdamW (no weight decay: in `full` mode decay would add a shrink-every-weight term to the
  difference the LoRA is extracted from, one no low rank can represent), gradient norm clipped
  to 1.0, `iterations` optimizer steps.

Modes:

- `lora`: a peft adapter (r = alpha = lora_rank, so the scale is 1, as diffusers assumes for files
  without alphas) on LORA_TARGET_MODULES -- the module list of the engine's dev LoRA and of the
  usual FLUX LoRA trainers. Only the adapter trains; in half precision its weights are kept in
  float32 (peft casts the activations) so small Adam updates are not rounded away.
- `full`: the weights of every Linear layer those modules name train directly (the rest of the
  model -- norms, modulation, embedders -- stays frozen: a LoRA on these modules could not carry
  their change anyway). After training, each layer's change W_new - W_old is factored by SVD and
  truncated to rank r: lora_B = U_r sqrt(S_r), lora_A = sqrt(S_r) V_r^T, the best rank-r
  approximation of the change (Eckart-Young), written with the same key names as a peft-trained
  LoRA. A layer narrower than r is zero-padded so every adapter has exactly rank r. In bf16/fp16
  the trained weights get float32 master copies (classic mixed precision), again so lr 1e-5
  updates are not lost to bf16's 8-bit mantissa.
  ESTIMATE, not measured (no GPU run; parameter counts from the FLUX.1-dev config built on the
  meta device): the transformer has 11.9 B parameters, 7.17 B of them in the 381 targeted
  Linears. bf16 model 23.8 GB + float32 masters 28.7 GB + AdamW's two float32 moments 57.4 GB +
  float32 gradients 28.7 GB (the bf16 ones, 14.3 GB, are freed as they are converted) = ~139 GB
  of accelerator memory before activations (gradient checkpointing is on for CUDA; a few GB at
  1024²), plus the original weights for the SVD in host memory (14.3 GB). Pure bf16 weights,
  gradients and moments would be ~67 GB but lose small updates. So `full` on real FLUX does not
  fit one 80 GB H100 and at best barely fits a 141 GB H200; it wants several GPUs or an
  8-bit/offloaded optimizer. `lora` at rank 32 trains 112 M parameters (1.8 GB with float32
  states) next to the 23.8 GB bf16 model: ~30 GB.

Output: `FluxPipeline.save_lora_weights` into a private temporary directory next to `out_file`,
fsynced, then `os.replace`d onto `out_file`, so readers only ever see a complete file; a stopped
or failed run leaves nothing (a killed process may leave a hidden `.lora-*` directory).

The engine's serving pipelines are never touched: `train` loads its own base pipeline from the
engine's model source (reusing, read-only and without any lock, the engine's loaded text encoders
and VAE when there are any, which saves ~10 GB on FLUX.1-dev; never its tokenizers, which are not
safe to call from two threads).

torch, diffusers and peft are imported inside functions: the API process imports this package.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from fluxhost.engine.engine import Engine

FinetuneType = Literal["lora", "full"]
Priority = Literal["speed", "quality", "high_res_only"]
ProgressCallback = Callable[[float], None]
StopCheck = Callable[[], bool]

# Training side length (pixels, for a square image; other aspect ratios keep about this area).
# Real FLUX: 512 trains fast and still generalises to 1024 output; 1024 is FLUX.1's native size.
# high_res_only trains only at the native size too (no mixing in lower resolutions).
RESOLUTIONS: dict[str, int] = {"speed": 512, "quality": 1024, "high_res_only": 1024}
# The dev model set's transformer is tiny and its images are noise: 64² (16 image tokens) and
# 128² (64 tokens) keep tests and the dev server fast while exercising the same code paths.
DEV_RESOLUTIONS: dict[str, int] = {"speed": 64, "quality": 128, "high_res_only": 128}

DEFAULT_LEARNING_RATES: dict[str, float] = {"lora": 1e-4, "full": 1e-5}

# Packed latent tokens are 2x2 patches of 8x-downsampled latents: sides must divide by 16.
SIZE_MULTIPLE = 16
# Most extreme aspect ratio trained as is; wider images are centre-cropped to it.
MAX_ASPECT = 2.0
# Guidance-embedding input during training (see the module docstring).
TRAIN_GUIDANCE = 1.0
MAX_GRAD_NORM = 1.0
# final_loss is the mean over this many last steps: one step's loss mostly reflects its random t.
LOSS_WINDOW = 10
LORA_FILE_NAME = "lora.safetensors"


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
    engine: Engine,
    samples: Sequence[tuple[Image.Image, str]],
    spec: TrainSpec,
    out_file: Path,
    *,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> TrainResult:
    """Train a LoRA on the engine's base model and write it to `out_file`.

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
    source = engine.model_sources()["base"]
    device, dtype = torch_device(settings), torch_dtype(settings)
    # Components with CPU-offload hooks belong to the engine's offload schedule; load fresh ones.
    reuse: dict[str, Any] = {}
    if settings.cpu_offload == "none":
        loaded = engine.shared_components()
        reuse = {k: loaded[k] for k in ("text_encoder", "text_encoder_2", "vae") if k in loaded}
    pipe = load_pipeline("base", source, dtype=dtype, device=device, shared=reuse)
    try:
        return train_pipeline(
            pipe,
            samples,
            spec,
            out_file,
            # A set that knows one size (the emoji64 demo) trains at it.
            resolution=native_size(source)
            or resolution_for(spec.priority, dev=engine.uses_dev_models),
            on_progress=on_progress,
            should_stop=should_stop,
        )
    finally:
        del pipe
        _empty_device_cache()


def train_pipeline(
    pipe: Any,
    samples: Sequence[tuple[Image.Image, str]],
    spec: TrainSpec,
    out_file: Path,
    *,
    resolution: int,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> TrainResult:
    """`train` on a FluxPipeline the caller owns, at `resolution` (see resolution_for).

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
    examples = _prepare_examples(pipe, samples, resolution, device)
    shift_params = _shift_params(pipe.scheduler.config)
    # Nothing below needs the text encoders or the VAE: release them so that, when they are the
    # trainer's own copies (T5-XXL alone is ~9.5 GB in bf16), their memory can go before the
    # optimizer allocates its states.
    for name in ("text_encoder", "text_encoder_2", "vae"):
        setattr(pipe, name, None)
    _empty_device_cache()

    lr = (
        spec.learning_rate
        if spec.learning_rate is not None
        else default_learning_rate(spec.finetune_type)
    )
    transformer.requires_grad_(False)
    if spec.finetune_type == "lora":
        trainer: _Trainable = _LoraTrainable(transformer, spec.lora_rank, spec.seed, device)
    else:
        trainer = _FullTrainable(transformer)
    if device.type == "cuda":
        # Activation memory at 1024² would otherwise dominate; the price is recomputing each
        # block's forward pass during backward.
        transformer.enable_gradient_checkpointing()
    transformer.train()
    optimizer = torch.optim.AdamW(trainer.params, lr=lr, weight_decay=0.0)

    guided = bool(getattr(transformer.config, "guidance_embeds", False))
    order = _SampleOrder(len(examples), spec.seed)
    # CPU generator: the same noise and timesteps on every device.
    gen = torch.Generator("cpu").manual_seed(spec.seed)
    losses: list[float] = []
    for step in range(spec.iterations):
        if should_stop is not None and should_stop():
            raise TrainingStopped(step)
        ex = examples[order.next()]
        x0 = ex.latents
        noise = torch.randn(x0.shape, generator=gen, dtype=torch.float32)
        t = _sample_sigma(gen, ex.tokens, shift_params)
        noise = noise.to(device=device, dtype=x0.dtype)
        t_model = torch.full((1,), t, device=device, dtype=x0.dtype)
        noisy = (1.0 - t) * x0 + t * noise
        # In float32: in bf16 the difference of two unit-scale tensors loses low bits.
        target = noise.float() - x0.float()
        pred = transformer(
            hidden_states=noisy,
            timestep=t_model,
            guidance=torch.full((1,), TRAIN_GUIDANCE, device=device) if guided else None,
            pooled_projections=ex.pooled,
            encoder_hidden_states=ex.prompt_embeds,
            txt_ids=ex.text_ids,
            img_ids=ex.image_ids,
            return_dict=False,
        )[0]
        loss = torch.nn.functional.mse_loss(pred.float(), target)
        loss_value = float(loss.item())
        if not math.isfinite(loss_value):
            raise TrainingDiverged(f"loss is {loss_value} at step {step + 1}; lower the lr")
        loss.backward()
        trainer.before_step()
        torch.nn.utils.clip_grad_norm_(trainer.params, MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        trainer.after_step()
        losses.append(loss_value)
        if on_progress is not None:
            on_progress((step + 1) / spec.iterations)

    transformer.eval()
    del optimizer
    if should_stop is not None and should_stop():
        raise TrainingStopped(spec.iterations)
    state = trainer.lora_state_dict(spec.lora_rank)
    path = _write_lora(state, Path(out_file))
    window = losses[-LOSS_WINDOW:]
    return TrainResult(
        path=path,
        rank=spec.lora_rank,
        iterations=spec.iterations,
        seconds=time.perf_counter() - started,
        final_loss=sum(window) / len(window),
    )


# --- inputs -------------------------------------------------------------------------------------


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


@dataclass
class _Example:
    latents: Any  # (1, tokens, 64) packed, normalised VAE latents
    image_ids: Any  # (tokens, 3)
    tokens: int
    prompt_embeds: Any  # (1, seq, joint_attention_dim)
    pooled: Any  # (1, pooled_projection_dim)
    text_ids: Any  # (seq, 3)


def _prepare_examples(
    pipe: Any, samples: Sequence[tuple[Image.Image, str]], resolution: int, device: Any
) -> list[_Example]:
    """Everything the frozen text encoders and VAE contribute, computed once up front."""
    import numpy as np
    import torch

    from fluxhost.engine.engine import _max_sequence_length

    max_len = _max_sequence_length(pipe)
    dtype = pipe.transformer.dtype
    vae = pipe.vae
    scaling = vae.config.scaling_factor
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    texts: dict[str, tuple[Any, Any, Any]] = {}
    examples = []
    with torch.no_grad():
        for image, caption in samples:
            if caption not in texts:
                embeds, pooled, text_ids = pipe.encode_prompt(
                    prompt=caption, prompt_2=caption, device=device, max_sequence_length=max_len
                )
                texts[caption] = (embeds.to(dtype), pooled.to(dtype), text_ids)
            fitted = _fit_image(image.convert("RGB"), resolution)
            pixels = torch.from_numpy(np.asarray(fitted, dtype=np.float32) / 127.5 - 1.0)
            pixels = pixels.permute(2, 0, 1)[None].to(device=device, dtype=vae.dtype)
            encoded = vae.encode(pixels)
            # AutoencoderKL: the distribution's mean (deterministic); AutoencoderTiny: .latents.
            dist = getattr(encoded, "latent_dist", None)
            latents = dist.mode() if dist is not None else encoded.latents
            latents = ((latents - shift) * scaling).to(dtype)
            _, channels, height, width = latents.shape
            packed = pipe._pack_latents(latents, 1, channels, height, width)
            ids = pipe._prepare_latent_image_ids(1, height // 2, width // 2, device, dtype)
            embeds, pooled, text_ids = texts[caption]
            examples.append(_Example(packed, ids, packed.shape[1], embeds, pooled, text_ids))
    return examples


def _fit_image(image: Image.Image, resolution: int) -> Image.Image:
    """About resolution² pixels, aspect ratio kept within 1:MAX_ASPECT, sides multiples of 16.
    Smaller images are upscaled: the model trains at one size per priority."""
    from PIL import ImageOps

    width, height = image.size
    aspect = min(max(width / height, 1 / MAX_ASPECT), MAX_ASPECT)
    target_w = _round_side(resolution * math.sqrt(aspect))
    target_h = _round_side(resolution / math.sqrt(aspect))
    # fit = centre crop to the target aspect ratio, then resize.
    return ImageOps.fit(image, (target_w, target_h), method=_lanczos())


def _round_side(value: float) -> int:
    return max(SIZE_MULTIPLE, round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE)


def _lanczos() -> Any:
    from PIL import Image

    return Image.Resampling.LANCZOS


# --- timesteps and order ------------------------------------------------------------------------


def _shift_params(config: Any) -> tuple[float, float, float, float]:
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


def _sample_sigma(gen: Any, tokens: int, params: tuple[float, float, float, float]) -> float:
    """Logit-normal t, shifted like FlowMatchEulerDiscreteScheduler's dynamic shift (the mu of
    diffusers' calculate_shift for this many image tokens)."""
    import torch

    base_len, max_len, base_shift, max_shift = params
    slope = (max_shift - base_shift) / (max_len - base_len)
    mu = base_shift + slope * (tokens - base_len)
    s = math.exp(mu)
    t = float(torch.sigmoid(torch.randn((1,), generator=gen)).item())
    return s * t / (1.0 + (s - 1.0) * t)


class _SampleOrder:
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


# --- what trains --------------------------------------------------------------------------------


def _targeted_linears(transformer: Any) -> list[tuple[str, Any]]:
    """(name, module) of the Linear layers LORA_TARGET_MODULES selects, matched the way peft
    matches a list of names (the full name or a dotted suffix of it)."""
    import torch

    from fluxhost.engine.devmodels import LORA_TARGET_MODULES

    return [
        (name, module)
        for name, module in transformer.named_modules()
        if isinstance(module, torch.nn.Linear)
        and any(name == t or name.endswith("." + t) for t in LORA_TARGET_MODULES)
    ]


class _Trainable:
    params: list[Any]

    def before_step(self) -> None:
        """After backward, before clipping and the optimizer step."""

    def after_step(self) -> None:
        """After the optimizer step."""

    def lora_state_dict(self, rank: int) -> dict[str, Any]:
        """peft-style keys (no `transformer.` prefix) -> CPU tensors."""
        raise NotImplementedError


class _LoraTrainable(_Trainable):
    def __init__(self, transformer: Any, rank: int, seed: int, device: Any) -> None:
        import torch
        from peft import LoraConfig

        from fluxhost.engine.devmodels import LORA_TARGET_MODULES

        self.transformer = transformer
        self.dtype = transformer.dtype
        config = LoraConfig(
            r=rank,
            lora_alpha=rank,
            init_lora_weights=True,  # A kaiming-uniform, B = 0: training starts at the base model
            target_modules=list(LORA_TARGET_MODULES),
        )
        with _seeded(seed, device):
            transformer.add_adapter(config)
        self.params = [p for p in transformer.parameters() if p.requires_grad]
        if self.dtype != torch.float32:
            for p in self.params:
                p.data = p.data.float()

    def lora_state_dict(self, rank: int) -> dict[str, Any]:
        from peft.utils import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.transformer)
        # Saved in the model's dtype: a bf16 FLUX LoRA is half the size and loads the same.
        return {k: v.detach().to("cpu", self.dtype).contiguous() for k, v in state.items()}


class _FullTrainable(_Trainable):
    def __init__(self, transformer: Any) -> None:
        import torch

        self.layers = _targeted_linears(transformer)
        if not self.layers:
            raise ValueError("the transformer has none of the LoRA target modules")
        self.dtype = transformer.dtype
        self.weights = [module.weight for _, module in self.layers]
        on_gpu = self.weights[0].device.type != "cpu"
        # The starting point, for the SVD at the end; in host memory on an accelerator (17 GB
        # for FLUX.1-dev in bf16).
        self.originals = [
            w.detach().to("cpu", copy=True) if on_gpu else w.detach().clone() for w in self.weights
        ]
        for w in self.weights:
            w.requires_grad_(True)
        self.mixed = self.dtype != torch.float32
        if self.mixed:
            self.params = [w.detach().float().requires_grad_(True) for w in self.weights]
        else:
            self.params = self.weights

    def before_step(self) -> None:
        if self.mixed:
            for master, w in zip(self.params, self.weights, strict=True):
                master.grad = None if w.grad is None else w.grad.float()
                w.grad = None

    def after_step(self) -> None:
        if self.mixed:
            import torch

            with torch.no_grad():
                for master, w in zip(self.params, self.weights, strict=True):
                    w.copy_(master)

    def lora_state_dict(self, rank: int) -> dict[str, Any]:
        import torch

        state: dict[str, Any] = {}
        with torch.no_grad():
            for (name, _), trained, original in zip(
                self.layers, self.params, self.originals, strict=True
            ):
                delta = trained.detach().float() - original.to(trained.device).float()
                lora_b, lora_a = _low_rank(delta, rank)
                state[f"{name}.lora_A.weight"] = lora_a.to("cpu", self.dtype).contiguous()
                state[f"{name}.lora_B.weight"] = lora_b.to("cpu", self.dtype).contiguous()
        return state


def _low_rank(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, A), B (out, rank) and A (rank, in), with B @ A the best rank-`rank` approximation of
    `delta` (out, in); the singular values are split evenly (sqrt) so neither factor dwarfs the
    other. Zero-padded when the layer's rank is below `rank`."""
    import torch

    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    keep = min(rank, s.shape[0])
    root = s[:keep].sqrt()
    lora_b = torch.zeros(delta.shape[0], rank, dtype=delta.dtype, device=delta.device)
    lora_a = torch.zeros(rank, delta.shape[1], dtype=delta.dtype, device=delta.device)
    lora_b[:, :keep] = u[:, :keep] * root
    lora_a[:keep] = root[:, None] * vh[:keep]
    return lora_b, lora_a


@contextlib.contextmanager
def _seeded(seed: int, device: Any) -> Iterator[None]:
    """Seed torch's global RNG (peft initialises LoRA A from it) without disturbing anyone
    else's random state."""
    import torch

    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# --- output -------------------------------------------------------------------------------------


def _write_lora(state: dict[str, Any], out_file: Path) -> Path:
    """Write `state` in the diffusers FLUX LoRA format to `out_file`, atomically."""
    from diffusers import FluxPipeline

    from fluxhost.engine._hf import quiet_progress

    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lora-", dir=out_file.parent) as tmp:
        with quiet_progress():
            FluxPipeline.save_lora_weights(
                tmp, transformer_lora_layers=state, weight_name=LORA_FILE_NAME
            )
        written = Path(tmp) / LORA_FILE_NAME
        # Durable before it becomes visible: after a power loss the name never points at a
        # file whose blocks were not written yet.
        with open(written, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(written, out_file)
    return out_file


def _empty_device_cache() -> None:
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
