"""Engine requests and errors. Torch-free: the API process imports this module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL import Image

# `on_step(done, total)` runs after each denoising step; `should_stop()` is asked then (and
# before the first step) and a true answer stops the request with Interrupted.
StepCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class LoraSpec:
    """A LoRA to apply. `key` identifies the adapter's content (e.g. the finetune id): the engine
    caches loaded adapters by key, so one key must always name the same weights."""

    key: str
    path: Path
    strength: float


@dataclass(frozen=True)
class ImagePrompt:
    """An image to condition on through FLUX Redux. `strength` blends text and image
    conditioning: 0 = the text prompt only, 1 = the image prompt only."""

    image: Image.Image  # RGB
    strength: float = 1.0


@dataclass(frozen=True)
class TextToImage:
    prompt: str
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    lora: LoraSpec | None = None
    # The kind whose pipeline runs it: "base", or an operator-defined kind running a
    # base pipeline (FLUXHOST_MODELS).
    kind: str = "base"
    image_prompt: ImagePrompt | None = None


@dataclass(frozen=True)
class Fill:
    """Inpainting: `mask` (mode "L", same size as `image`) is white where to repaint."""

    prompt: str
    image: Image.Image  # RGB
    mask: Image.Image  # L
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    lora: LoraSpec | None = None
    # The kind whose pipeline runs it: "fill", or an operator-defined kind running a
    # fill pipeline (FLUXHOST_MODELS).
    kind: str = "fill"


@dataclass(frozen=True)
class Control:
    """Structure-conditioned generation on the canny or depth pipeline. `control_image` is the
    user's image (RGB); the engine turns it into edges or a depth map, unless `preprocessed`:
    then it already is one (the API's `preprocessed_image`) and is used as given, only resized
    to width x height (no edge detection, no depth estimator)."""

    kind: str  # canny, depth, or an operator-defined kind running one of those pipelines
    prompt: str
    control_image: Image.Image  # RGB
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    lora: LoraSpec | None = None
    canny_low: int = 50
    canny_high: int = 200
    preprocessed: bool = False


@dataclass(frozen=True)
class Expand:
    """Outpainting on the fill pipeline: `image` (RGB) padded by `top`, `bottom`, `left` and
    `right` pixels, the new border generated. The output is the padded size exactly, and every
    pixel of `image` is in it unchanged at (left, top). `width` x `height` is the size the fill
    pipeline generates at (the padded canvas fitted to the API's bounds, multiples of 16)."""

    prompt: str
    image: Image.Image  # RGB
    top: int
    bottom: int
    left: int
    right: int
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    lora: LoraSpec | None = None
    # The kind whose pipeline runs it: "fill", or an operator-defined kind running a
    # fill pipeline (FLUXHOST_MODELS).
    kind: str = "fill"


@dataclass(frozen=True)
class Kontext:
    """FLUX.1 Kontext: generate from the prompt and up to four reference images (RGB; none:
    text to image). Several references are placed side by side into one reference image
    (fluxhost.engine.families.flux1.references) before the pipeline sees them."""

    prompt: str
    images: tuple[Image.Image, ...]
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    lora: LoraSpec | None = None
    # The kind whose pipeline runs it: "kontext", or an operator-defined kind running a
    # kontext pipeline (FLUXHOST_MODELS).
    kind: str = "kontext"


@dataclass(frozen=True)
class Flux2:
    """FLUX.2 ([dev] or [klein]): text to image, or generation from `references` (RGB, in the
    request's order: input_image, input_image_2, ...) passed to the pipeline's native
    multi-image input. `guidance` is the distilled embedding on FLUX.2 [dev], and true CFG's
    scale on a klein Base checkpoint (ignored by a distilled klein one)."""

    prompt: str
    references: tuple[Image.Image, ...]
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    lora: LoraSpec | None = None
    # The kind whose pipeline runs it: a built-in FLUX.2 kind ("flux2-dev", "klein-4b",
    # "klein-9b", "klein-9b-kv") or an operator-defined kind running a FLUX.2 pipeline.
    kind: str = "flux2-dev"


class Request(Protocol):
    """The fields every request type shares: what the engine checks and runs any request by.
    `kind` names the pipeline kind that serves it (see each type's default)."""

    @property
    def prompt(self) -> str: ...
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
    @property
    def kind(self) -> str: ...


class EngineError(Exception):
    """Base of the errors the engine raises on purpose."""


class MissingPipeline(EngineError):
    """The model set has no pipeline of the kind a request needs."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(
            f"this server's model set has no {kind!r} pipeline; set FLUXHOST_MODELS to map "
            f"{kind!r} to a hub id or directory"
        )


class Interrupted(EngineError):
    """Generation stopped early because `should_stop` asked for it."""

    def __init__(self, step: int | None = None) -> None:
        self.step = step
        where = "before the first step" if not step else f"after step {step}"
        super().__init__(f"generation interrupted {where}")


class InvalidLora(EngineError):
    """A LoRA file could not be loaded into the pipeline (corrupt, or for another model)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"LoRA {key!r} could not be applied: {reason}")
