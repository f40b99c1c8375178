"""Moderation of prompts, input images and outputs by ``safety_tolerance``.

Usage (worker)::

    moderator = Moderator(policy_from_settings(
        enabled=settings.moderation_enabled,
        table=settings.moderation_table,
        word_lists=settings.moderation_word_lists,
    ))
    reasons = moderator.check_inputs(prompt, {"image_prompt": img}, tolerance)
    if reasons:  # task ends "Request Moderated", details {"Moderation Reasons": reasons}
        ...
    if moderator.check_output(result, tolerance):  # task ends "Content Moderated"
        ...

Importing this package does not import onnxruntime or numpy; the model loads on the first image
check (or on ``Moderator.warmup()``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from fluxhost.moderation.images import (
    ImageClassifier,
    Scorer,
    check_image,
    default_classifier,
)
from fluxhost.moderation.policy import (
    DEFAULT_TABLE,
    DEFAULT_TOLERANCE,
    Policy,
    ToleranceRule,
    WordLists,
    policy_from_settings,
)
from fluxhost.moderation.text import check_prompt

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "DEFAULT_TABLE",
    "DEFAULT_TOLERANCE",
    "OUTPUT_NAME",
    "ImageClassifier",
    "Moderator",
    "Policy",
    "Scorer",
    "ToleranceRule",
    "WordLists",
    "check_image",
    "check_prompt",
    "default_classifier",
    "policy_from_settings",
]

# Name used in the reason for the generated image ("output: nsfw").
OUTPUT_NAME = "output"


class Moderator:
    """Facade over the policy and the image classifier.

    ``classifier_factory`` is called at most once, on the first image check, so prompt-only
    requests never load the model; tests inject a factory returning a stub ``Scorer``.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        classifier_factory: Callable[[], Scorer] = default_classifier,
    ) -> None:
        self.policy = policy if policy is not None else Policy()
        self._factory = classifier_factory
        self._classifier: Scorer | None = None
        self._lock = threading.Lock()

    @property
    def classifier(self) -> Scorer:
        if self._classifier is None:
            with self._lock:
                if self._classifier is None:
                    self._classifier = self._factory()
        return self._classifier

    def warmup(self) -> None:
        """Load the model now (worker start) instead of on the first request."""
        if self.policy.enabled:
            clf = self.classifier
            if isinstance(clf, ImageClassifier):
                clf.load()

    def check_inputs(
        self, prompt: str | None, images: Mapping[str, Image | None] | None, tolerance: int
    ) -> list[str]:
        """Reasons to refuse the request's inputs (empty = allowed). The prompt is checked first
        and images are scored only if it passes, to avoid model work on a refused request."""
        if not self.policy.enabled:
            return []
        reasons = check_prompt(prompt, self.policy, tolerance)
        if reasons:
            return reasons
        for name, image in (images or {}).items():
            if image is not None:
                reasons += check_image(name, image, self.policy, tolerance, self.classifier)
        return reasons

    def check_output(self, image: Image, tolerance: int) -> list[str]:
        """Reasons to withhold the generated image (empty = allowed)."""
        if not self.policy.enabled:
            return []
        return check_image(OUTPUT_NAME, image, self.policy, tolerance, self.classifier)
