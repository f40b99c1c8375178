"""Prompt upsampling: expand a short prompt into a detailed image description.

`upsample()` never fails a task: if the configured upsampler errors or times out, the original
prompt is used and a warning is logged. The OpenAI-compatible upsampler (and httpx) is imported
only when one is configured, so importing this package stays cheap."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fluxhost.upsampling.base import Upsampler
from fluxhost.upsampling.offline import OfflineUpsampler

if TYPE_CHECKING:
    from fluxhost.upsampling.openai import OpenAICompatibleUpsampler

logger = logging.getLogger("fluxhost.upsampling")

FALLBACK_NOTE = "prompt upsampling failed; the original prompt was used"

__all__ = [
    "FALLBACK_NOTE",
    "OfflineUpsampler",
    "OpenAICompatibleUpsampler",
    "Upsampler",
    "make_upsampler",
    "upsample",
]


def __getattr__(name: str) -> Any:
    # Lazy export: `from fluxhost.upsampling import OpenAICompatibleUpsampler` works without
    # paying for httpx at package import.
    if name == "OpenAICompatibleUpsampler":
        from fluxhost.upsampling.openai import OpenAICompatibleUpsampler

        return OpenAICompatibleUpsampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_upsampler(
    base_url: str | None, model: str | None, api_key: str | None, timeout: float
) -> Upsampler:
    """An OpenAI-compatible upsampler when both an endpoint and a model are set, else offline."""
    if base_url and model:
        from fluxhost.upsampling.openai import OpenAICompatibleUpsampler

        return OpenAICompatibleUpsampler(base_url, model, api_key, timeout)
    return OfflineUpsampler()


def upsample(
    prompt: str, seed: int, upsampler: Upsampler | None, fallback: Upsampler | None = None
) -> tuple[str, str | None]:
    """Returns (prompt to use, note). The note is None on success and says what happened when
    the upsampler failed; then the prompt is `fallback`'s result if one is given and works, and
    otherwise the original prompt."""
    active = upsampler if upsampler is not None else OfflineUpsampler()
    try:
        return active.upsample(prompt, seed), None
    except Exception as exc:
        # Any failure (timeout, HTTP error, bad JSON, a bug in a plug-in) must not fail the task.
        # The prompt is user content, so it goes to debug only; the warning names the error.
        logger.warning(
            "prompt upsampling with %s failed (%s: %s); falling back to %s",
            type(active).__name__,
            type(exc).__name__,
            exc,
            "the original prompt" if fallback is None else type(fallback).__name__,
        )
        logger.debug("prompt that failed to upsample: %r", prompt)
    if fallback is not None:
        try:
            return fallback.upsample(prompt, seed), FALLBACK_NOTE
        except Exception as exc:
            logger.warning(
                "fallback upsampler %s failed too (%s); using the original prompt",
                type(fallback).__name__,
                type(exc).__name__,
            )
    return prompt, FALLBACK_NOTE
