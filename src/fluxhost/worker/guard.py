"""What happens around a generation besides the engine: prompt upsampling before it, and
moderation of the prompt, the input images and the output. One Guard per process: the
upsampler's connection pool and the image classifier load once and are shared by its workers."""

from __future__ import annotations

import logging
import threading
from typing import Any

from fluxhost.settings import Settings

log = logging.getLogger(__name__)


class Guard:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._upsampler: Any = None
        self._moderator: Any = None

    def upsampled(self, prompt: str, seed: int, task_id: str) -> str:
        """The prompt to use: expanded, or the original if the upsampler fails (logged)."""
        from fluxhost.upsampling import make_upsampler, upsample
        from fluxhost.upsampling.base import KeepPrompt

        with self._lock:
            if self._upsampler is None:
                s = self.settings
                if s.uses_demo_models and not s.upsampler_base_url:
                    self._upsampler = KeepPrompt()  # emoji names only: nothing to add
                else:
                    self._upsampler = make_upsampler(
                        s.upsampler_base_url, s.upsampler_model, s.upsampler_api_key,
                        s.upsampler_timeout_seconds)
        used, note = upsample(prompt, seed, self._upsampler)
        if note:
            log.warning("prompt upsampling fell back to the original prompt",
                        extra={"task_id": task_id, "note": note})
        return used

    def moderator(self) -> Any:
        """The process's Moderator, or None when moderation is off."""
        if not self.settings.moderation_enabled:
            return None
        from fluxhost.moderation import Moderator, policy_from_settings

        with self._lock:
            if self._moderator is None:
                s = self.settings
                self._moderator = Moderator(policy_from_settings(
                    enabled=s.moderation_enabled, table=s.moderation_table,
                    word_lists=s.moderation_word_lists))
        return self._moderator
