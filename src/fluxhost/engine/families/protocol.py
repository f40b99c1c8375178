"""What a family is, and what the engine offers it: the Protocols between Engine and families.

A family serves one request type (fluxhost.engine.types) with the diffusers pipelines it names.
It says how each pipeline loads (its class, the components it shares with the other pipelines
of its model family, and what must be loaded before it), and it runs a request: it checks it,
asks the engine for its pipelines (`Runner`), builds the pipeline's arguments (prompt encoding
included) and lets the engine run the denoising loop. The family that trains (the text to
image family of a model family) also gives the trainer its prompt encoding, latent packing and
transformer call (`TrainingFamily`), so the trainer holds no model-specific code.

Torch-free: the engine imports every family at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from fluxhost.engine.types import Request, StepCallback, StopCheck

if TYPE_CHECKING:
    from PIL import Image

    from fluxhost.engine.preprocess import DepthEstimator

R = TypeVar("R", contravariant=True)
# The arguments a family gives its pipeline for one request (prompt, images, ...), made under
# the engine's run lock.
Inputs = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class PipelineSpec:
    """How one pipeline (by its FLUXHOST_MODELS name) loads."""

    name: str  # base, fill, canny, ...
    class_name: str  # the diffusers class, resolved when loading
    # Components loaded once and then shared by every pipeline of the model family that takes
    # them (text encoders, tokenizers, VAE); never schedulers, which keep per-run state.
    shared: tuple[str, ...]
    # A pipeline to load first when the shared components are not loaded yet: one that ships
    # without them (FLUX.1 Redux has no text encoders) borrows its neighbour's.
    borrows_from: str | None = None
    # Components are shared only within a group (a model generation): a FLUX.1 pipeline never
    # gets a FLUX.2 VAE, whatever the two call it.
    group: str = "flux1"
    # Shared components told apart by the checkpoint's config: (component, the checkpoint folder
    # whose config.json identifies it; a tokenizer goes with its text encoder). Listed ones are
    # shared only between checkpoints whose config of that folder is the same (FLUX.2 [klein] 4B
    # and 9B both hold a "text_encoder": Qwen3-4B and Qwen3-8B). Unlisted ones are shared by name
    # within the group (FLUX.1: every release holds the same ones).
    identified_by: tuple[tuple[str, str], ...] = ()


class Runner(Protocol):
    """The engine as a family sees it while running a request."""

    def check_kind(self, kind: str, pipelines: Collection[str]) -> str:
        """The pipeline `kind` runs, checked to be one of `pipelines` (MissingPipeline for a
        kind the model set lacks, ValueError for one running another pipeline)."""
        ...

    def load(self, kind: str) -> Any:
        """The loaded pipeline of `kind` (MissingPipeline if the model set has none)."""
        ...

    def available_kinds(self) -> frozenset[str]: ...

    def pipeline_of(self, kind: str) -> str | None: ...

    def depth_estimator(self) -> DepthEstimator: ...

    def exclusive(self) -> AbstractContextManager[None]:
        """The run lock, for work that uses the device outside `generate`."""
        ...

    def generate(self, pipe: Any, req: Request, on_step: StepCallback | None,
                 should_stop: StopCheck | None, inputs: Inputs) -> Image.Image:
        """Run `pipe` for `req` (size, steps, guidance, seed, LoRA) with `inputs()`, under the
        run lock, with progress and stop checks after every step."""
        ...


class Family(Protocol[R]):
    """Serves one request type. Registered in fluxhost.engine.families.FAMILIES."""

    @property
    def name(self) -> str: ...

    @property
    def request_type(self) -> type:
        """The request dataclass the engine looks this family up by."""
        ...

    @property
    def pipelines(self) -> tuple[PipelineSpec, ...]:
        """The pipelines its requests' kinds may run."""
        ...

    @property
    def helpers(self) -> tuple[PipelineSpec, ...]:
        """Pipelines it loads besides them (no request kind runs one): Redux."""
        ...

    def run(self, engine: Runner, req: R, on_step: StepCallback | None,
            should_stop: StopCheck | None) -> Image.Image: ...


class TrainingFamily(Protocol):
    """What the LoRA trainer needs of the family whose pipeline it trains on."""

    @property
    def pipeline(self) -> str:
        """The pipeline training loads: the family's text to image one."""
        ...

    @property
    def lora_target_modules(self) -> tuple[str, ...]:
        """Transformer module names a LoRA adapts (peft's `target_modules`)."""
        ...

    @property
    def encoders(self) -> tuple[str, ...]:
        """The pipeline's text encoders and VAE: used once to encode the samples, then released;
        the trainer may borrow the engine's loaded ones (never tokenizers: not thread-safe)."""
        ...

    def encode_prompt(self, pipe: Any, caption: str, device: Any) -> Any:
        """The caption's conditioning, as generation computes it, in the transformer's dtype."""
        ...

    def encode_image(self, pipe: Any, image: Image.Image, device: Any) -> Latents:
        """The image's normalised, packed latents (the denoising target's x0)."""
        ...

    def time_shift(self, scheduler_config: Any, tokens: int) -> float:
        """The shift s the trainer applies to its sampled t (t' = s*t / (1 + (s - 1)*t)) for an
        image of `tokens` tokens: the one the family's sampler uses, from its scheduler config."""
        ...

    def predict(self, transformer: Any, noisy: Any, sigma: Any, latents: Latents,
                prompt: Any) -> Any:
        """The transformer's prediction for `noisy` at `sigma`, called as its pipeline does."""
        ...

    def save_lora(self, state: dict[str, Any], directory: Path, weight_name: str) -> None:
        """Write the transformer LoRA `state` (peft keys) in the format the pipeline loads."""
        ...


@dataclass(frozen=True)
class Latents:
    """An image as the transformer sees it."""

    packed: Any  # (1, tokens, channels)
    positions: Any  # the position ids the transformer takes with them
    tokens: int  # image tokens: sets the timestep shift
