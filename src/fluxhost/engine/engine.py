"""The engine: lazily loaded diffusers pipelines behind a small request API.

Threading: an Engine may be shared by any number of threads. Pipeline loading is guarded by one
lock and generation by another, so calls into the same Engine run one at a time -- pipelines,
their schedulers and their active LoRA adapter are mutable shared state, and one accelerator
gains nothing from interleaving two denoising loops. Share one Engine per process (weights are
loaded once) rather than building one per worker thread (weights loaded once per thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fluxhost.engine._hf import set_offline_env
from fluxhost.engine.devmodels import DEV_MODEL_WARNING
from fluxhost.engine.loading import is_local_source, load_pipeline
from fluxhost.engine.lora import LoraCache
from fluxhost.engine.modelset import (
    configured_kinds,
    resolve_model_set,
    torch_device,
    torch_dtype,
)
from fluxhost.engine.types import Interrupted, MissingPipeline, TextToImage

if TYPE_CHECKING:
    from PIL import Image

    from fluxhost.settings import Settings

StepCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]

# FLUX latents are packed 2x2 after the VAE's 8x downsampling.
SIZE_MULTIPLE = 16
T5_MAX_SEQUENCE = 512
# FLUX.1-schnell (no guidance embedding) was trained with 256 T5 tokens, FLUX.1-dev with 512.
T5_MAX_SEQUENCE_UNGUIDED = 256


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pipes: dict[str, Any] = {}
        self._sources: dict[str, str] | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._loras = LoraCache(settings.lora_cache_size)

    @property
    def uses_dev_models(self) -> bool:
        return self.settings.uses_dev_models

    @property
    def warning(self) -> str | None:
        """A line to log at startup and show to operators, or None for real models."""
        return DEV_MODEL_WARNING if self.uses_dev_models else None

    def available_kinds(self) -> frozenset[str]:
        """The pipeline kinds this engine can run. Loads and builds nothing."""
        return configured_kinds(self.settings)

    def loaded_kinds(self) -> frozenset[str]:
        return frozenset(self._pipes)

    def load(self, kind: str) -> Any:
        """The pipeline for `kind`, loaded on first use and cached."""
        if kind not in self.available_kinds():
            raise MissingPipeline(kind)
        with self._load_lock:
            pipe = self._pipes.get(kind)
            if pipe is None:
                source = self.model_sources()[kind]
                pipe = load_pipeline(
                    kind,
                    source,
                    dtype=torch_dtype(self.settings),
                    device=torch_device(self.settings),
                )
                self._pipes[kind] = pipe
            return pipe

    def model_sources(self) -> dict[str, str]:
        """Kind -> hub id or local dir; builds the dev model set on first call if in use."""
        if self._sources is None:
            if self.uses_dev_models or all(map(is_local_source, self.settings.models.values())):
                # Nothing to download, so make sure nothing tries (and fails slowly) to.
                set_offline_env()
            self._sources = resolve_model_set(self.settings)
        return self._sources

    def close(self) -> None:
        """Drop loaded pipelines so their memory can be reclaimed."""
        with self._load_lock, self._run_lock:
            self._pipes.clear()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def text_to_image(
        self,
        req: TextToImage,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> Image.Image:
        """Generate one image. `on_step(done, total)` runs after each denoising step; if
        `should_stop()` is true then (or before the first step) this raises Interrupted."""
        import torch

        _check_size(req.width, req.height)
        if req.steps < 1:
            raise ValueError(f"steps must be at least 1, got {req.steps}")
        pipe = self.load("base")

        def on_step_end(p: Any, index: int, _t: Any, _kwargs: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                on_step(index + 1, getattr(p, "num_timesteps", None) or req.steps)
            if should_stop is not None and should_stop():
                raise Interrupted(index + 1)
            return {}

        with self._run_lock:
            if should_stop is not None and should_stop():
                raise Interrupted(0)
            if req.lora is not None:
                self._loras.apply(pipe, req.lora.key, req.lora.path, req.lora.strength)
            else:
                self._loras.disable(pipe)
            result = pipe(
                prompt=req.prompt,
                width=req.width,
                height=req.height,
                num_inference_steps=req.steps,
                guidance_scale=req.guidance,
                # A CPU generator makes the initial noise, hence the image for a seed, the same
                # on every device.
                generator=torch.Generator("cpu").manual_seed(req.seed),
                max_sequence_length=_max_sequence_length(pipe),
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=[],
                output_type="pil",
            )
        image: Image.Image = result.images[0]
        return image


def _check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        # The pipeline would silently round a bad size down; refuse instead.
        if value < SIZE_MULTIPLE or value % SIZE_MULTIPLE:
            raise ValueError(f"{name} must be a positive multiple of {SIZE_MULTIPLE}, got {value}")


def _max_sequence_length(pipe: Any) -> int:
    """T5 tokens per prompt: what the model was trained with, capped by its tokenizer."""
    guided = bool(getattr(pipe.transformer.config, "guidance_embeds", True))
    limit = T5_MAX_SEQUENCE if guided else T5_MAX_SEQUENCE_UNGUIDED
    tokenizer_limit = getattr(pipe.tokenizer_2, "model_max_length", limit) or limit
    return min(limit, int(tokenizer_limit))
