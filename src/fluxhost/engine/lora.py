"""LoRA adapters kept loaded per pipeline, switched per request.

Each pipeline keeps up to `capacity` adapters resident (peft layers alongside the base weights,
never fused), activated one at a time with `set_adapters` at the request's strength. Requests
without a LoRA, or with strength 0, go through `disable`, which flips every LoRA layer to call
its base layer directly: the computation is then exactly the base model's (bit-identical output,
no LoRA matmuls), while the adapters stay loaded for the next request that wants them. Weight 0
via `set_adapters` would also be exact for finite values, but still pays for the LoRA matmuls
and turns an inf activation into NaN (0 * inf), so it is not used.

Only transformer layers are loaded. The text encoders are shared by all pipeline kinds (see
fluxhost.engine.loading), and adapter state on a shared module would leak from one pipeline's
request into another's; FLUX LoRA trainers (BFL's finetuning, ai-toolkit) train the transformer
only anyway. Text-encoder layers in a file are dropped with a warning.

Pipelines of other kinds: a LoRA trained on the base transformer loads into the fill, canny and
depth transformers too -- they have the same blocks. Only `x_embedder` differs: it reads 384
(fill) or 128 (control) input channels instead of 64, the first 64 being the noisy latents in
every kind. diffusers zero-pads an x_embedder LoRA's A matrix to the wider input, so the adapter
acts on the latent channels exactly as on the base model and ignores the conditioning channels.
The reverse is refused: a LoRA whose layers are wider than the pipeline's (e.g. a FLUX Control
LoRA on the base model) would make diffusers widen the transformer itself, a change that
outlives the adapter.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import re
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fluxhost.engine.types import InvalidLora
from fluxhost.metrics.process import ADAPTER_EVICTIONS, ADAPTER_HITS, ADAPTER_LOADS

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_TEXT_ENCODER_PREFIX = "text_encoder."
_TRANSFORMER_PREFIX = "transformer."

log = logging.getLogger(__name__)


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
                ADAPTER_EVICTIONS.inc()
            name = adapter_name(key)
            ADAPTER_LOADS.inc()  # attempted: a file that fails to load is a miss all the same
            self._load(pipe, key, name, path)
            state.loaded[key] = name
        else:
            ADAPTER_HITS.inc()
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

    def forget(self, pipe: Any, key: str) -> None:
        """Unload `key`'s adapter from `pipe` if it is resident."""
        state = self._state(pipe)
        name = state.loaded.pop(key, None)
        if name is not None:
            pipe.delete_adapters(name)

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
            weights = _transformer_weights(pipe, key, Path(path))
            pipe.load_lora_weights(weights, adapter_name=name)
        except InvalidLora:
            raise
        except Exception as exc:
            # A failed load can leave half-injected layers behind; drop them so the next request
            # sees the same pipeline as before.
            with contextlib.suppress(Exception):
                pipe.delete_adapters(name)
            raise InvalidLora(key, f"{type(exc).__name__}: {exc}") from exc


def _transformer_weights(pipe: Any, key: str, path: Path) -> str | dict[str, Any]:
    """What to pass to `load_lora_weights`: the file itself, or, if it has text-encoder layers,
    its transformer layers only. Raises InvalidLora for layers wider than the pipeline's."""
    # lora_state_dict converts the known formats (kohya, xlabs, ...) to diffusers key names.
    state, alphas = _state_dict(pipe, path)
    _check_shapes(pipe.transformer, key, state)
    dropped = [k for k in state if k.startswith(_TEXT_ENCODER_PREFIX)]
    if not dropped:
        # Loading from the file (not the dict) keeps the adapter metadata in its header.
        return str(path)
    kept = {k: v for k, v in state.items() if not k.startswith(_TEXT_ENCODER_PREFIX)}
    if not any(k.startswith(_TRANSFORMER_PREFIX) for k in kept):
        raise InvalidLora(key, "it has no transformer layers (text-encoder LoRAs are not applied)")
    log.warning(
        "LoRA %r: ignoring %d text-encoder tensors; the text encoders are shared by all "
        "pipelines, so only transformer layers are applied",
        key,
        len(dropped),
    )
    # Alphas travel as keys in diffusers' format and are split off again on load.
    te_free_alphas = {
        k: v for k, v in (alphas or {}).items() if not k.startswith(_TEXT_ENCODER_PREFIX)
    }
    return {**kept, **te_free_alphas}


def _state_dict(pipe: Any, path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The file's layers in diffusers' names, and its network alphas where the pipeline's loader
    keeps them apart (FLUX.1's; FLUX.2's loader takes no `return_alphas`: its converters fold
    the alphas into the weights)."""
    if "return_alphas" in inspect.signature(pipe.lora_state_dict).parameters:
        state, alphas = pipe.lora_state_dict(str(path), return_alphas=True)
        return state, alphas
    return pipe.lora_state_dict(str(path)), None


_LORA_SUFFIXES = {".lora_A.weight": 1, ".lora_B.weight": 0}  # suffix -> dim compared


def _check_shapes(transformer: Any, key: str, state: dict[str, Any]) -> None:
    for name, tensor in state.items():
        suffix = next((s for s in _LORA_SUFFIXES if name.endswith(s)), None)
        if suffix is None or not name.startswith(_TRANSFORMER_PREFIX):
            continue
        module_name = name[len(_TRANSFORMER_PREFIX) : -len(suffix)]
        try:
            module = transformer.get_submodule(module_name)
        except AttributeError:
            continue  # diffusers ignores unknown modules; so do we
        # After an adapter is loaded the Linear is wrapped by peft; its weight is base_layer's.
        module = getattr(module, "base_layer", module)
        weight = getattr(module, "weight", None)
        if weight is None or weight.dim() != 2 or tensor.dim() != 2:
            continue
        dim = _LORA_SUFFIXES[suffix]
        if tensor.shape[dim] > weight.shape[dim]:
            what = "input" if dim == 1 else "output"
            raise InvalidLora(
                key,
                f"layer {module_name!r} has {tensor.shape[dim]} {what} features in the LoRA but "
                f"{weight.shape[dim]} in this pipeline (a LoRA for another model kind, e.g. "
                "a FLUX Control LoRA)",
            )
