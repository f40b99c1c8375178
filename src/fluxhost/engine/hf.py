"""Process-level knobs of the Hugging Face libraries, applied only inside loading code paths."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

OFFLINE_ENV_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DIFFUSERS_OFFLINE")


def set_offline_env() -> None:
    """Keep the HF libraries off the network; respects a value the user set.

    huggingface_hub reads these once, when it is first imported, so this only takes effect if
    called before the first diffusers/transformers import -- and it then holds for the whole
    process, which is why callers only use it when every model they will load is local.
    """
    for name in OFFLINE_ENV_VARS:
        os.environ.setdefault(name, "1")


# diffusers warns (two lines, on its own stderr handler) when it cannot ask the hub and falls
# back to the cache; if the cache lacks the model the load fails and fluxhost reports that cause
# itself (fluxhost.engine.loaderrors), so the warning would only be a second, vaguer report.
HUB_FALLBACK_LOGGER = "diffusers.pipelines.pipeline_utils"
HUB_FALLBACK_PREFIX = "Couldn't connect to the Hub"


class _DropHubFallback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(HUB_FALLBACK_PREFIX)


_HUB_FILTER = _DropHubFallback()


# Without torchvision (fluxhost does not need it) transformers warns, once per class, that an
# image processor falls back to its PIL variant: diffusers' FLUX pipelines import CLIP's and
# SigLIP's on first use, so every server start printed two such lines under its banner. The
# PIL variant is the one fluxhost uses anyway; only these messages are dropped.
TORCHVISION_FALLBACKS = {
    "transformers.utils.import_utils": "requires torchvision (not installed); falling back to",
    "transformers.models.auto.image_processing_auto":
        "Requested torchvision backend is not available. Falling back to",
}


class _DropTorchvisionFallback(logging.Filter):
    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle

    def filter(self, record: logging.LogRecord) -> bool:
        return self.needle not in str(record.msg)


def drop_torchvision_fallback_warnings() -> None:
    """Install the filters (once; before transformers is imported or after, both work: they
    sit on the loggers by name)."""
    for name, needle in TORCHVISION_FALLBACKS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTorchvisionFallback) for f in logger.filters):
            logger.addFilter(_DropTorchvisionFallback(needle))


@contextmanager
def quiet_progress() -> Iterator[None]:
    """Silence diffusers/transformers tqdm bars (loading, saving) and diffusers' hub-fallback
    warning for one block; they would otherwise interleave with the server's structured logs."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    restore_d, restore_t = dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    # Installed on first use and left on (adding it again is a no-op): the warning never helps.
    logging.getLogger(HUB_FALLBACK_LOGGER).addFilter(_HUB_FILTER)
    try:
        yield
    finally:
        if restore_d:
            dlog.enable_progress_bar()
        if restore_t:
            tlog.enable_progress_bar()


def pil_processor_class(name: str) -> Any:
    """transformers 5's PIL-backed image processor class `<name>Pil` where it exists: without
    torchvision transformers falls back to it anyway, with a warning on every load, and the
    saved class name is what later loads use. Older transformers: `name` itself (PIL-based)."""
    import transformers

    return getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)
