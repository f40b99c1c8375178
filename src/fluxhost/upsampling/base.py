"""The interface every prompt upsampler implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Upsampler(Protocol):
    """Expands a short prompt into a more detailed image description.

    `seed` is the task's seed, passed so that an upsampler can be reproducible for the same
    request; implementations may raise on failure, and callers are expected to fall back."""

    def upsample(self, prompt: str, seed: int) -> str: ...


class KeepPrompt:
    """Upsampling that keeps the prompt as given: for a model that knows a closed vocabulary
    (the emoji64 demo knows emoji names), where the offline upsampler's added details are words
    it never saw and would only blur what was asked for."""

    def upsample(self, prompt: str, seed: int) -> str:
        return prompt
