"""The engine as its users see it: the Protocols the workers and the trainer depend on.

fluxhost.engine.Engine implements them; tests and benchmarks pass stand-ins that implement as
much as they exercise. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import TYPE_CHECKING, Any, Protocol

from fluxhost.engine.types import Request, StepCallback, StopCheck

if TYPE_CHECKING:
    from PIL import Image

    from fluxhost.settings import Settings


class ServingEngine(Protocol):
    """What a worker needs to claim and run generation tasks."""

    def available_kinds(self) -> Set[str]:
        """The pipeline kinds the model set has (loads nothing)."""
        ...

    def loaded_kinds(self) -> Set[str]: ...

    def load(self, kind: str) -> object:
        """Load `kind`'s pipeline now (warm-up); raises EngineError when it cannot."""
        ...

    def load_failures(self) -> Mapping[str, str]:
        """Model -> why its last load failed, for those whose last load did."""
        ...

    def retry_failed_loads(self) -> None:
        """Retry failed loads whose backoff has passed (an idle worker calls it)."""
        ...

    def resident_loras(self) -> Set[str]:
        """Finetune ids whose adapter is loaded: the claim prefers their tasks."""
        ...

    def forget_lora(self, key: str) -> None: ...

    def run(self, request: Request, on_step: StepCallback | None = None,
            should_stop: StopCheck | None = None) -> Image.Image:
        """One image for `request` (see Engine.run)."""
        ...


class TrainingEngine(Protocol):
    """What the LoRA trainer reads of the engine: where the base model is, which components it
    may borrow, and the settings (device, dtype, offload)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def uses_dev_models(self) -> bool: ...

    def model_sources(self) -> Mapping[str, str]: ...

    def shared_components(self) -> Mapping[str, Any]: ...


class WorkerEngine(ServingEngine, TrainingEngine, Protocol):
    """A worker's engine: it runs generation and training tasks."""
