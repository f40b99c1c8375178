"""The engine: lazily loaded diffusers pipelines behind a small request API.

Threading: an Engine may be shared by any number of threads. Pipeline loading is guarded by one
lock and generation by another, so calls into the same Engine run one at a time -- pipelines,
their schedulers and their active LoRA adapter are mutable shared state, and one accelerator
gains nothing from interleaving two denoising loops. Share one Engine per process (weights are
loaded once) rather than building one per worker thread (weights loaded once per thread).

Pipelines load on first use of their kind. The text encoders, tokenizers and VAE are loaded once,
with the first pipeline, and shared by every later kind (see fluxhost.engine.loading), so a
second kind costs only its transformer. The depth estimator (control kind "depth") loads on first
use too.

A failed load raises ModelLoadError (kind, source, likely cause), logs it as one line and is
remembered until a later attempt of that kind succeeds: nothing is cached as failed, the next
request tries again, and `retry_failed_loads` lets an idle worker try again on a backoff so a
fixed problem (a token set, a directory copied) heals without traffic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fluxhost.engine._hf import set_offline_env
from fluxhost.engine.demo import adapt
from fluxhost.engine.devmodels import DEPTH_ESTIMATOR, DEV_MODEL_WARNING
from fluxhost.engine.expand import expand_canvas, keep_original
from fluxhost.engine.kontext import MAX_REFERENCES, stitch_references
from fluxhost.engine.loaderrors import MODEL_CONFIG, ModelLoadError, load_error
from fluxhost.engine.loading import (
    is_local_source,
    load_pipeline,
    resolve_local,
    shareable_components,
)
from fluxhost.engine.lora import LoraCache
from fluxhost.engine.modelset import (
    configured_kinds,
    resolve_model_set,
    torch_device,
    torch_dtype,
)
from fluxhost.engine.preprocess import DepthEstimator, canny_edges, depth_map
from fluxhost.engine.redux import check_strength, image_prompt_embeds
from fluxhost.engine.types import (
    Control,
    Expand,
    Fill,
    Interrupted,
    Kontext,
    LoraSpec,
    MissingPipeline,
    TextToImage,
)

if TYPE_CHECKING:
    from PIL import Image

    from fluxhost.settings import Settings

log = logging.getLogger(__name__)
StepCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]

# FLUX latents are packed 2x2 after the VAE's 8x downsampling.
SIZE_MULTIPLE = 16
T5_MAX_SEQUENCE = 512
# FLUX.1-schnell (no guidance embedding) was trained with 256 T5 tokens, FLUX.1-dev with 512.
T5_MAX_SEQUENCE_UNGUIDED = 256
CONTROL_KINDS = ("canny", "depth")
# An idle worker retries a failed load after this long, doubling per failure up to the maximum
# (a real FLUX load reads tens of GB, so retrying much more often would mostly thrash).
RELOAD_RETRY_SECONDS = 30.0
RELOAD_RETRY_MAX_SECONDS = 300.0


@dataclass
class _Failure:
    error: ModelLoadError
    failures: int
    retry_at: float  # time.monotonic()


class _Generation(Protocol):
    """The fields every request type shares."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def steps(self) -> int: ...
    @property
    def guidance(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def lora(self) -> LoraSpec | None: ...


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Kind -> pipeline, least recently used first (the memory budget evicts from the front).
        self._pipes: OrderedDict[str, Any] = OrderedDict()
        # Component name -> the one loaded instance every pipeline uses.
        self._shared: dict[str, Any] = {}
        self._depth_estimator: DepthEstimator | None = None
        self._sources: dict[str, str] | None = None
        # Kind (or DEPTH_ESTIMATOR) -> its last load attempt, while that attempt failed.
        self._failures: dict[str, _Failure] = {}
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

    def pipeline_of(self, kind: str) -> str | None:
        """The pipeline (base, fill, canny, depth, kontext, redux) `kind` runs: a built-in kind
        runs its namesake, an operator-defined one the pipeline FLUXHOST_MODELS gives it."""
        return self.settings.kind_pipeline(kind)

    def _kind_for(self, kind: str, pipelines: tuple[str, ...]) -> str:
        """`kind`, checked to run one of `pipelines` (the request type's)."""
        pipeline = self.pipeline_of(kind)
        if pipeline is None:
            raise MissingPipeline(kind)
        if pipeline not in pipelines:
            raise ValueError(f"kind {kind!r} runs a {pipeline} pipeline; this request needs "
                             f"one of: {', '.join(pipelines)}")
        return kind

    def loaded_kinds(self) -> frozenset[str]:
        return frozenset(self._pipes)

    def resident_loras(self) -> frozenset[str]:
        """Keys (finetune ids) of the adapters loaded in any pipeline, for the claim's affinity.
        Read without the run lock, so a claim never waits for a generation: a snapshot a load
        stale is good enough for a preference (a dict resized under us reads as empty)."""
        keys: set[str] = set()
        try:
            for pipe in list(self._pipes.values()):
                keys.update(self._loras.loaded_keys(pipe))
        except RuntimeError:
            return frozenset()
        return frozenset(keys)

    def shared_components(self) -> dict[str, Any]:
        """The loaded components all pipelines share (name -> object); empty before a load."""
        return dict(self._shared)

    def load(self, kind: str) -> Any:
        """The pipeline for `kind`, loaded on first use and cached."""
        if kind not in self.available_kinds():
            raise MissingPipeline(kind)
        with self._load_lock:
            return self._load(kind)

    def _load(self, kind: str) -> Any:
        pipe = self._pipes.get(kind)
        if pipe is not None:
            self._pipes.move_to_end(kind)
            return pipe
        if kind == "redux" and "text_encoder_2" not in self._shared:
            # Redux checkpoints carry no text encoders, yet need the base model's to append their
            # image tokens to; and Redux only ever runs together with a base pipeline.
            base = self._base_kind()
            if base is None:
                raise MissingPipeline("base")
            self._load(base)
        # adapt: a set with a manifest (the emoji64 demo) runs at its native size.
        pipe = self._attempt(kind, lambda source: adapt(load_pipeline(
            kind,
            source,
            dtype=torch_dtype(self.settings),
            device=torch_device(self.settings),
            shared=self._shared,
            cpu_offload=self.settings.cpu_offload,
            pipeline=self.pipeline_of(kind),
        ), source))
        for name, component in shareable_components(pipe).items():
            self._shared.setdefault(name, component)
        self._pipes[kind] = pipe
        self._enforce_budget(keep=kind)
        return pipe

    def _base_kind(self) -> str | None:
        """"base", else an operator-defined kind running the base pipeline."""
        kinds = self.available_kinds()
        if "base" in kinds:
            return "base"
        return next((k for k in sorted(kinds) if self.pipeline_of(k) == "base"), None)

    def _enforce_budget(self, keep: str) -> None:
        """Unload least recently used pipelines beyond `max_loaded_pipelines` or beyond
        `pipeline_memory_budget_mb` of transformer weights. Only their transformers (and
        schedulers) go: the shared text encoders and VAE stay. A generation still running on
        an evicted pipeline holds its own reference and finishes normally."""
        count = self.settings.max_loaded_pipelines
        budget = self.settings.pipeline_memory_budget_mb * 1024 * 1024
        evicted = False
        while len(self._pipes) > 1 and (
            (count and len(self._pipes) > count)
            or (budget and sum(map(_transformer_bytes, self._pipes.values())) > budget)
        ):
            victim = next(k for k in self._pipes if k != keep)
            del self._pipes[victim]
            evicted = True
            log.info("pipeline unloaded (memory budget)", extra={"kind": victim})
        if evicted:
            _empty_device_cache()

    def forget_lora(self, key: str) -> None:
        """Unload `key`'s adapter from every pipeline (its finetune was deleted or replaced)."""
        with self._run_lock:
            for pipe in self._pipes.values():
                self._loras.forget(pipe, key)

    def depth_estimator(self) -> DepthEstimator:
        """The model that makes depth maps for the depth pipeline, loaded on first use."""
        if not any(self.pipeline_of(k) == "depth" for k in self.available_kinds()):
            raise MissingPipeline("depth")
        with self._load_lock:
            return self._load_depth_estimator()

    def _load_depth_estimator(self) -> DepthEstimator:
        if self._depth_estimator is None:
            self._depth_estimator = self._attempt(DEPTH_ESTIMATOR, self._read_depth_estimator)
        return self._depth_estimator

    def _read_depth_estimator(self, source: str) -> DepthEstimator:
        try:
            path = resolve_local(DEPTH_ESTIMATOR, source, MODEL_CONFIG)
            return DepthEstimator.load(source, torch_device(self.settings),
                                       local=path is not None)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise load_error(DEPTH_ESTIMATOR, source, exc) from exc

    # --- load failures ----------------------------------------------------------------------

    def _attempt(self, kind: str, load: Callable[[str], Any]) -> Any:
        """`load(source)` for `kind`, keeping `_failures` up to date; a failure is logged as
        one line (the traceback only at DEBUG) and raised as ModelLoadError."""
        source = self.model_sources()[kind]
        try:
            loaded = load(source)
        except ModelLoadError as exc:
            self._record_failure(kind, exc)
            raise
        except Exception as exc:  # a loader that does not classify its own errors
            error = load_error(kind, source, exc)
            self._record_failure(kind, error)
            raise error from exc
        if self._failures.pop(kind, None) is not None:
            log.info("model loaded after an earlier failure",
                     extra={"kind": kind, "model_source": source})
        return loaded

    def _record_failure(self, kind: str, error: ModelLoadError) -> None:
        previous = self._failures.get(kind)
        failures = previous.failures + 1 if previous else 1
        wait = min(RELOAD_RETRY_SECONDS * 2 ** (failures - 1), RELOAD_RETRY_MAX_SECONDS)
        self._failures[kind] = _Failure(error, failures, time.monotonic() + wait)
        log.error("%s", error, extra={"kind": kind, "model_source": error.source})
        log.debug("model load traceback", exc_info=error)

    def load_failures(self) -> dict[str, str]:
        """Kind (or DEPTH_ESTIMATOR) -> why its last load attempt failed, for the kinds whose
        last attempt did fail; empty when every attempt so far succeeded."""
        failures = dict(self._failures)  # a copy: loads change it from other threads
        return {kind: str(f.error) for kind, f in failures.items()}

    def retry_failed_loads(self) -> None:
        """Try again to load the kinds whose last load failed and whose backoff has passed.
        Cheap when nothing failed; a failure is logged (once per attempt) and kept."""
        now = time.monotonic()
        if not any(f.retry_at <= now for f in list(self._failures.values())):
            return
        # Never wait behind a load in progress: the caller is an idle worker that should go
        # back to claiming tasks.
        if not self._load_lock.acquire(blocking=False):
            return
        try:
            for kind in [k for k, f in self._failures.items() if f.retry_at <= now]:
                try:
                    if kind == DEPTH_ESTIMATOR:
                        self._load_depth_estimator()
                    else:
                        self._load(kind)
                except ModelLoadError:
                    pass  # recorded and logged by _attempt
        finally:
            self._load_lock.release()

    def model_sources(self) -> dict[str, str]:
        """Kind (or DEPTH_ESTIMATOR) -> hub id or local dir; builds the dev model set on first
        call if in use."""
        if self._sources is None:
            if self.uses_dev_models:
                # Nothing to download, so make sure nothing tries (and fails slowly) to. Set
                # before building: the build imports the HF libraries, which read it once.
                set_offline_env()
                self._sources = resolve_model_set(self.settings)
            else:
                sources = resolve_model_set(self.settings)
                if all(map(is_local_source, sources.values())):
                    set_offline_env()
                self._sources = sources
        return self._sources

    def close(self) -> None:
        """Drop loaded pipelines so their memory can be reclaimed."""
        with self._load_lock, self._run_lock:
            self._pipes.clear()
            self._shared.clear()
            self._depth_estimator = None
        _empty_device_cache()

    # --- requests -------------------------------------------------------------------------------
    #
    # Every request method: `on_step(done, total)` runs after each denoising step; if
    # `should_stop()` is true then (or before the first step) it raises Interrupted. The seed
    # drives a CPU generator, so a request gives the same image on every device.

    def text_to_image(
        self,
        req: TextToImage,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> Image.Image:
        """Generate one image from a prompt, optionally conditioned on `req.image_prompt`
        through the redux pipeline (see fluxhost.engine.redux for how strength blends)."""
        _check_request(req)
        image_prompt = req.image_prompt
        if image_prompt is not None:
            check_strength(image_prompt.strength)
            # Even at strength 0: whether a request is served must not hinge on its strength.
            if "redux" not in self.available_kinds():
                raise MissingPipeline("redux")
        pipe = self.load(self._kind_for(req.kind, ("base",)))
        if image_prompt is None or image_prompt.strength == 0:
            return self._generate(pipe, req, on_step, should_stop, lambda: {"prompt": req.prompt})
        redux = self.load("redux")
        return self._generate(
            pipe,
            req,
            on_step,
            should_stop,
            lambda: image_prompt_embeds(
                pipe, redux, req.prompt, image_prompt, _max_sequence_length(pipe)
            ),
        )

    def fill(
        self,
        req: Fill,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> Image.Image:
        """Inpaint `req.image` where `req.mask` is white, with the fill pipeline.

        FLUX Fill regenerates the whole image through the VAE, which only approximates the
        pixels to keep; the result is therefore composited with the input (PIL
        Image.composite, the mask as alpha): where the mask is 0 the output is exactly the
        input, where it is 255 exactly the generated image, and grey mask values blend the two.
        Image and mask are first resized to width x height if they differ from it.
        """
        from PIL import Image

        _check_request(req)
        pipe = self.load(self._kind_for(req.kind, ("fill",)))
        size = (req.width, req.height)
        image = _fit(req.image.convert("RGB"), size, Image.Resampling.LANCZOS)
        # Nearest keeps a binary mask binary, so "mask == 0" stays exactly the kept region.
        mask = _fit(req.mask.convert("L"), size, Image.Resampling.NEAREST)
        generated = self._generate(
            pipe,
            req,
            on_step,
            should_stop,
            lambda: {"prompt": req.prompt, "image": image, "mask_image": mask},
        )
        return Image.composite(generated, image, mask)

    def control(
        self,
        req: Control,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> Image.Image:
        """Generate following the structure of `req.control_image`, with the canny or depth
        pipeline; the image is first turned into edges or a depth map (see `control_image`)."""
        _check_request(req)
        pipe = self.load(self._kind_for(req.kind, CONTROL_KINDS))
        estimator = self._estimator_for(req)
        canny = self.pipeline_of(req.kind) == "canny"
        return self._generate(
            pipe,
            req,
            on_step,
            should_stop,
            lambda: {"prompt": req.prompt,
                     "control_image": _control_image(req, canny, estimator)},
        )

    def control_image(self, req: Control) -> Image.Image:
        """The conditioning image `control` feeds its pipeline: `req.control_image` resized to
        the output size, then canny edges (req.canny_low/high) or a normalised depth map."""
        canny = self.pipeline_of(self._kind_for(req.kind, CONTROL_KINDS)) == "canny"
        estimator = self._estimator_for(req)
        with self._run_lock:  # the depth estimator shares the device with generation
            return _control_image(req, canny, estimator)

    def _estimator_for(self, req: Control) -> DepthEstimator | None:
        # A preprocessed control image is used as given: no depth estimator, not even loaded.
        depth = self.pipeline_of(req.kind) == "depth"
        return self.depth_estimator() if depth and not req.preprocessed else None

    def expand(
        self,
        req: Expand,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> Image.Image:
        """Outpaint: pad `req.image`, generate the new border with the fill pipeline at
        width x height, scale the result to the padded size and paste the image back, so every
        original pixel is kept exactly (see fluxhost.engine.expand). No padding at all returns
        the image unchanged, without generating."""
        from fluxhost.engine.types import Fill

        _check_request(req)
        image = req.image.convert("RGB")
        if not (req.top or req.bottom or req.left or req.right):
            return image.copy()
        canvas, mask = expand_canvas(image, req.top, req.bottom, req.left, req.right)
        generated = self.fill(
            Fill(prompt=req.prompt, image=canvas, mask=mask, width=req.width, height=req.height,
                 steps=req.steps, guidance=req.guidance, seed=req.seed, lora=req.lora,
                 kind=req.kind),
            on_step,
            should_stop,
        )
        return keep_original(generated, image, canvas.size, req.left, req.top)

    def kontext(
        self,
        req: Kontext,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> Image.Image:
        """FLUX.1 Kontext at width x height: image editing from up to four references, placed
        side by side into one (fluxhost.engine.kontext), or text to image with none."""
        _check_request(req)
        if len(req.images) > MAX_REFERENCES:
            raise ValueError(
                f"Kontext takes at most {MAX_REFERENCES} reference images, got {len(req.images)}")
        pipe = self.load(self._kind_for(req.kind, ("kontext",)))
        area = req.width * req.height

        def inputs() -> dict[str, Any]:
            reference = stitch_references(req.images, area) if req.images else None
            # max_area = the requested area keeps width x height as asked (the pipeline rescales
            # its size to max_area); the reference is sized here, so no auto resize to ~1 MP.
            return {"prompt": req.prompt, "image": reference, "max_area": area,
                    "_auto_resize": False}

        return self._generate(pipe, req, on_step, should_stop, inputs)

    def _generate(
        self,
        pipe: Any,
        req: _Generation,
        on_step: StepCallback | None,
        should_stop: StopCheck | None,
        inputs: Callable[[], dict[str, Any]],
    ) -> Image.Image:
        """Run `pipe` for `req` with the kind-specific arguments `inputs()` returns; that runs
        under the run lock, as it may run models (Redux, the depth estimator) itself."""
        import torch

        def on_step_end(p: Any, index: int, _t: Any, _kwargs: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                on_step(index + 1, getattr(p, "num_timesteps", None) or req.steps)
            if should_stop is not None and should_stop():
                raise Interrupted(index + 1)
            return {}

        with self._run_lock:
            if should_stop is not None and should_stop():
                raise Interrupted(0)
            kwargs = inputs()
            if req.lora is not None:
                self._loras.apply(pipe, req.lora.key, req.lora.path, req.lora.strength)
            else:
                self._loras.disable(pipe)
            result = pipe(
                **kwargs,
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


def _control_image(req: Control, canny: bool, estimator: DepthEstimator | None) -> Image.Image:
    from PIL import Image

    # At the output size, so canny thresholds and edge widths mean the same at any input size.
    source = _fit(
        req.control_image.convert("RGB"), (req.width, req.height), Image.Resampling.LANCZOS
    )
    if req.preprocessed:  # already edges or a depth map: used as given
        return source
    if canny:
        return canny_edges(source, req.canny_low, req.canny_high)
    assert estimator is not None
    return depth_map(source, estimator)


def _fit(image: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
    return image if image.size == size else image.resize(size, resample)


def _transformer_bytes(pipe: Any) -> int:
    """Weight bytes of the pipeline's own model (Redux has an image encoder, not a transformer)."""
    model = getattr(pipe, "transformer", None) or getattr(pipe, "image_embedder", None)
    if model is None:
        return 0
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _empty_device_cache() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def _check_request(req: _Generation) -> None:
    _check_size(req.width, req.height)
    if req.steps < 1:
        raise ValueError(f"steps must be at least 1, got {req.steps}")


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
