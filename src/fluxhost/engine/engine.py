"""The engine: lazily loaded diffusers pipelines behind one entry point, `Engine.run(request)`.

A request is served by the family registered for its type (fluxhost.engine.families): the
family checks it, asks the engine for its pipelines and builds their arguments; the engine
loads, shares, budgets and locks.

Threading: an Engine may be shared by any number of threads. Pipeline loading is guarded by one
lock and generation by another, so calls into the same Engine run one at a time -- pipelines,
their schedulers and their active LoRA adapter are mutable shared state, and one accelerator
gains nothing from interleaving two denoising loops. Share one Engine per process (weights are
loaded once) rather than building one per worker thread (weights loaded once per thread).

Pipelines load on first use of their kind. The components a family shares (FLUX.1: text
encoders, tokenizers and VAE) are loaded once, with the first pipeline, and shared by every
later kind (fluxhost.engine.families.flux1.common), so a second kind costs only its transformer.
Sharing stays within a model generation, and where its checkpoints hold different encoders
(FLUX.2 [klein] 4B and 9B) between those holding the same one (fluxhost.engine.pipelines).
The depth estimator (control kind "depth") loads on first use too.

A failed load raises ModelLoadError (kind, source, likely cause), logs it as one line and is
remembered until a later attempt of that kind succeeds (fluxhost.engine.failures): the next
request tries again, and `retry_failed_loads` lets an idle worker try again on a backoff.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fluxhost.engine.demo import adapt
from fluxhost.engine.failures import LoadFailures
from fluxhost.engine.families import TRAINING, family_for, pipeline_spec
from fluxhost.engine.families.protocol import Inputs
from fluxhost.engine.generate import denoise
from fluxhost.engine.hf import set_offline_env
from fluxhost.engine.loaderrors import MODEL_CONFIG, ModelLoadError, load_error
from fluxhost.engine.loading import is_local_source, load_pipeline, resolve_local, share_keys
from fluxhost.engine.lora import LoraCache
from fluxhost.engine.modelset import (
    DEV_MODEL_WARNING,
    configured_kinds,
    resolve_model_set,
    torch_device,
    torch_dtype,
)
from fluxhost.engine.pipelines import LoadedPipelines, empty_device_cache
from fluxhost.engine.preprocess import DepthEstimator
from fluxhost.engine.quantize import mode_keys
from fluxhost.engine.types import Interrupted, MissingPipeline, Request, StepCallback, StopCheck
from fluxhost.kinds import DEPTH_ESTIMATOR_KEY

if TYPE_CHECKING:
    from PIL import Image

    from fluxhost.settings import Settings


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pipes = LoadedPipelines(settings)
        self._depth_estimator: DepthEstimator | None = None
        self._sources: dict[str, str] | None = None
        # Kind (or DEPTH_ESTIMATOR_KEY) -> its last load attempt, while that attempt failed.
        self._failures = LoadFailures()
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._loras = LoraCache(settings.lora_cache_size)

    # --- requests -------------------------------------------------------------------------

    def run(
        self,
        request: Request,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> Image.Image:
        """One image for `request`, by the family registered for its type.

        `on_step(done, total)` runs after each denoising step; if `should_stop()` is true then
        (or before the first step) this raises Interrupted. The seed drives a CPU generator, so
        a request gives the same image on every device."""
        return family_for(request).run(self, request, on_step, should_stop)

    def generate(self, pipe: Any, req: Request, on_step: StepCallback | None,
                 should_stop: StopCheck | None, inputs: Inputs) -> Image.Image:
        """Run `pipe` for `req` with the family's arguments `inputs()`; that runs under the run
        lock, as it may run models (Redux, the depth estimator) itself."""
        with self._run_lock:
            if should_stop is not None and should_stop():
                raise Interrupted(0)
            return denoise(pipe, req, self._loras, inputs(), on_step, should_stop)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the run lock: for device work outside `generate` (a control image's depth)."""
        with self._run_lock:
            yield

    # --- kinds ----------------------------------------------------------------------------

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
        """The pipeline (base, fill, canny, depth, kontext, redux; flux2, klein, klein-kv) `kind`
        runs: a built-in FLUX.1 kind runs its namesake, a built-in FLUX.2 kind the pipeline of its
        weights (klein-4b: klein), an operator-defined one the pipeline FLUXHOST_MODELS gives it."""
        return self.settings.kind_pipeline(kind)

    def check_kind(self, kind: str, pipelines: Collection[str]) -> str:
        """The pipeline `kind` runs, checked to be one of `pipelines` (the request type's)."""
        pipeline = self.pipeline_of(kind)
        if pipeline is None:
            raise MissingPipeline(kind)
        if pipeline not in pipelines:
            raise ValueError(f"kind {kind!r} runs a {pipeline} pipeline; this request needs "
                             f"one of: {', '.join(pipelines)}")
        return pipeline

    def loaded_kinds(self) -> frozenset[str]:
        return self._pipes.kinds()

    def resident_loras(self) -> frozenset[str]:
        """Keys (finetune ids) of the adapters loaded in any pipeline, for the claim's affinity.
        Read without the run lock, so a claim never waits for a generation: a snapshot a load
        stale is good enough for a preference (a dict resized under us reads as empty)."""
        keys: set[str] = set()
        try:
            for pipe in self._pipes.pipelines():
                keys.update(self._loras.loaded_keys(pipe))
        except RuntimeError:
            return frozenset()
        return frozenset(keys)

    def shared_components(self) -> dict[str, Any]:
        """The loaded components the training family's pipelines share (FLUX.1's text encoders,
        tokenizers and VAE: name -> object); empty before a load."""
        return self._pipes.shared(pipeline_spec(TRAINING.pipeline).group)

    def forget_lora(self, key: str) -> None:
        """Unload `key`'s adapter from every pipeline (its finetune was deleted or replaced)."""
        with self._run_lock:
            for pipe in self._pipes.pipelines():
                self._loras.forget(pipe, key)

    # --- loading --------------------------------------------------------------------------

    def load(self, kind: str) -> Any:
        """The pipeline for `kind`, loaded on first use and cached."""
        if kind not in self.available_kinds():
            raise MissingPipeline(kind)
        with self._load_lock:
            return self._load(kind)

    def _load(self, kind: str) -> Any:
        pipe = self._pipes.get(kind)
        if pipe is not None:
            return pipe
        pipeline = self.pipeline_of(kind) or kind
        spec = pipeline_spec(pipeline)
        source = self.model_sources()[kind]
        modes = self.settings.modes_for(kind)
        keys = mode_keys(share_keys(spec, source), modes)
        if spec.borrows_from is not None and self._pipes.lacks_shared(keys):
            lender = self._kind_running(spec.borrows_from)
            if lender is None:
                raise MissingPipeline(spec.borrows_from)
            self._load(lender)
        # adapt: a set with a manifest (the emoji64 demo) runs at its native size.
        pipe = self._failures.attempt(kind, source, lambda source: adapt(
            load_pipeline(
                kind,
                source,
                dtype=torch_dtype(self.settings),
                device=torch_device(self.settings),
                shared=self._pipes.shared_for(keys),
                cpu_offload=self.settings.cpu_offload,
                pipeline=pipeline,
                modes=modes,
                device_map=self.settings.device_map,
            ), source))
        self._pipes.add(kind, pipe, keys)
        return pipe

    def _kind_running(self, pipeline: str) -> str | None:
        """The built-in kind `pipeline`, else an operator-defined kind running it."""
        kinds = self.available_kinds()
        if pipeline in kinds:
            return pipeline
        return next((k for k in sorted(kinds) if self.pipeline_of(k) == pipeline), None)

    def depth_estimator(self) -> DepthEstimator:
        """The model that makes depth maps for the depth pipeline, loaded on first use."""
        if not any(self.pipeline_of(k) == "depth" for k in self.available_kinds()):
            raise MissingPipeline("depth")
        with self._load_lock:
            return self._load_depth_estimator()

    def _load_depth_estimator(self) -> DepthEstimator:
        if self._depth_estimator is None:
            self._depth_estimator = self._failures.attempt(
                DEPTH_ESTIMATOR_KEY, self.model_sources()[DEPTH_ESTIMATOR_KEY],
                self._read_depth_estimator)
        return self._depth_estimator

    def _read_depth_estimator(self, source: str) -> DepthEstimator:
        try:
            path = resolve_local(DEPTH_ESTIMATOR_KEY, source, MODEL_CONFIG)
            return DepthEstimator.load(source, torch_device(self.settings),
                                       local=path is not None)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise load_error(DEPTH_ESTIMATOR_KEY, source, exc) from exc

    def load_failures(self) -> dict[str, str]:
        """Kind (or DEPTH_ESTIMATOR_KEY) -> why its last load attempt failed, for the kinds whose
        last attempt did fail; empty when every attempt so far succeeded."""
        return self._failures.reasons()

    def retry_failed_loads(self) -> None:
        """Try again to load the kinds whose last load failed and whose backoff has passed.
        Cheap when nothing failed; a failure is logged (once per attempt) and kept."""
        if not self._failures.due():
            return
        # Never wait behind a load in progress: the caller is an idle worker that should go
        # back to claiming tasks.
        if not self._load_lock.acquire(blocking=False):
            return
        try:
            for kind in self._failures.due():
                try:
                    if kind == DEPTH_ESTIMATOR_KEY:
                        self._load_depth_estimator()
                    else:
                        self._load(kind)
                except ModelLoadError:
                    pass  # recorded and logged by LoadFailures.attempt
        finally:
            self._load_lock.release()

    def model_sources(self) -> dict[str, str]:
        """Kind (or DEPTH_ESTIMATOR_KEY) -> hub id or local dir; builds the dev model set on first
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
            self._depth_estimator = None
        empty_device_cache()
