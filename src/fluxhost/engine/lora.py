"""LoRA adapters kept loaded per pipeline, switched per request.

Each pipeline keeps up to `capacity` adapters resident (peft layers alongside the base weights,
never fused), activated one at a time with `set_adapters` at the request's strength. Requests
without a LoRA, or with strength 0, go through `disable`, which flips every LoRA layer to call
its base layer directly: the computation is then exactly the base model's (bit-identical output,
no LoRA matmuls), while the adapters stay loaded for the next request that wants them. Weight 0
via `set_adapters` would also be exact for finite values, but still pays for the LoRA matmuls
and turns an inf activation into NaN (0 * inf), so it is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fluxhost.engine.types import InvalidLora

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def adapter_name(key: str) -> str:
    """A peft-safe adapter name for `key`: peft uses adapter names as module dict keys (no dots),
    and the digest keeps distinct keys distinct after sanitising."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"lora_{_UNSAFE.sub('_', key)[:40]}_{digest}"


class _PipeState:
    def __init__(self) -> None:
        self.loaded: OrderedDict[str, str] = OrderedDict()  # key -> adapter name, LRU first
        self.enabled = False


class LoraCache:
    """Adapter bookkeeping for any number of pipelines, `capacity` adapters each.

    Not thread-safe on its own: the engine serialises generation, and so every call here.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("LoRA cache capacity must be at least 1")
        self.capacity = capacity
        self._states: weakref.WeakKeyDictionary[Any, _PipeState] = weakref.WeakKeyDictionary()

    def _state(self, pipe: Any) -> _PipeState:
        state = self._states.get(pipe)
        if state is None:
            state = self._states[pipe] = _PipeState()
        return state

    def loaded_keys(self, pipe: Any) -> list[str]:
        """Keys of the resident adapters, least recently used first."""
        return list(self._state(pipe).loaded)

    def apply(self, pipe: Any, key: str, path: Path, strength: float) -> None:
        """Make `key`'s adapter the only active one, at `strength` (0 = base model exactly)."""
        if strength == 0:
            self.disable(pipe)
            return
        state = self._state(pipe)
        name = state.loaded.get(key)
        fresh = name is None
        if name is None:
            # Evict first so the resident set never exceeds capacity, even transiently.
            while len(state.loaded) >= self.capacity:
                _, old = state.loaded.popitem(last=False)
                pipe.delete_adapters(old)
            name = adapter_name(key)
            self._load(pipe, key, name, path)
            state.loaded[key] = name
        else:
            state.loaded.move_to_end(key)
        # A fresh adapter joins layers that may still carry a previous disable_lora() flag, so
        # enable explicitly rather than trusting the tracked state.
        if fresh or not state.enabled:
            pipe.enable_lora()
            state.enabled = True
        pipe.set_adapters([name], adapter_weights=[float(strength)])

    def disable(self, pipe: Any) -> None:
        """Run the base model exactly; loaded adapters stay resident."""
        state = self._state(pipe)
        if state.enabled:
            pipe.disable_lora()
            state.enabled = False

    def clear(self, pipe: Any) -> None:
        """Unload every adapter of `pipe`."""
        state = self._state(pipe)
        if state.loaded:
            pipe.delete_adapters(list(state.loaded.values()))
        state.loaded.clear()
        state.enabled = False

    def _load(self, pipe: Any, key: str, name: str, path: Path) -> None:
        if not Path(path).is_file():
            raise InvalidLora(key, f"file {str(path)!r} does not exist")
        try:
            pipe.load_lora_weights(str(path), adapter_name=name)
        except Exception as exc:
            # A failed load can leave half-injected layers behind; drop them so the next request
            # sees the same pipeline as before.
            with contextlib.suppress(Exception):
                pipe.delete_adapters(name)
            raise InvalidLora(key, f"{type(exc).__name__}: {exc}") from exc
