"""The loaded pipelines of an engine: kind -> pipeline, least recently used first, the components
they share, and the memory budget that unloads the least recently used ones.

A shared component is kept under its share key (fluxhost.engine.loading.share_keys): the model
generation's group, plus a digest of the config that identifies it where checkpoints of one
generation hold different ones (FLUX.2 [klein] 4B and 9B), so a pipeline only ever reuses a
component its own checkpoint holds.

Not thread-safe on its own: the engine changes it under its load lock. Reads that must not wait
for a load (`pipelines`) take a snapshot.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from fluxhost.engine.loading import shareable_components

if TYPE_CHECKING:
    from fluxhost.settings import Settings

# Component name -> its share key, for one pipeline (fluxhost.engine.loading.share_keys).
ShareKeys = dict[str, str]

log = logging.getLogger("fluxhost.engine.engine")  # the name operators' log filters know


class LoadedPipelines:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Kind -> pipeline, least recently used first (the memory budget evicts from the front).
        self._pipes: OrderedDict[str, Any] = OrderedDict()
        # (share key, component name) -> the one loaded instance the pipelines under it use.
        self._shared: dict[tuple[str, str], Any] = {}

    def get(self, kind: str) -> Any | None:
        """`kind`'s pipeline if loaded (then the most recently used)."""
        pipe = self._pipes.get(kind)
        if pipe is not None:
            self._pipes.move_to_end(kind)
        return pipe

    def kinds(self) -> frozenset[str]:
        return frozenset(self._pipes)

    def pipelines(self) -> list[Any]:
        """A snapshot of the loaded pipelines; RuntimeError if a load resized it meanwhile."""
        return list(self._pipes.values())

    def shared(self, key: str) -> dict[str, Any]:
        """The loaded components shared under `key` (name -> object); empty before a load."""
        return {name: comp for (k, name), comp in list(self._shared.items()) if k == key}

    def lacks_shared(self, keys: ShareKeys) -> bool:
        """Whether a component of `keys` is not loaded yet."""
        return any((key, name) not in self._shared for name, key in keys.items())

    def shared_for(self, keys: ShareKeys) -> dict[str, Any]:
        """The loaded components a pipeline whose components have `keys` is to reuse."""
        found = {name: self._shared.get((key, name)) for name, key in keys.items()}
        return {name: comp for name, comp in found.items() if comp is not None}

    def add(self, kind: str, pipe: Any, keys: ShareKeys) -> None:
        """Keep `pipe` (its shared components too, if the first under their key), then unload
        what the memory budget no longer allows."""
        for name, component in shareable_components(pipe, keys).items():
            self._shared.setdefault((keys[name], name), component)
        self._pipes[kind] = pipe
        self._enforce_budget(keep=kind)

    def clear(self) -> None:
        self._pipes.clear()
        self._shared.clear()

    def _enforce_budget(self, keep: str) -> None:
        """Unload least recently used pipelines beyond `max_loaded_pipelines` or beyond
        `pipeline_memory_budget_mb` of transformer weights. Only their transformers (and
        schedulers) go: the shared text encoders and VAE stay. A generation still running on
        an evicted pipeline holds its own reference and finishes normally."""
        count = self.settings.max_loaded_pipelines
        budget = self.settings.pipeline_memory_budget_mb * 1024 * 1024
        evicted = False
        while len(self._pipes) > 1 and (
            (count and len(self._pipes) > count)
            or (budget and sum(map(_transformer_bytes, self._pipes.values())) > budget)
        ):
            victim = next(k for k in self._pipes if k != keep)
            del self._pipes[victim]
            evicted = True
            log.info("pipeline unloaded (memory budget)", extra={"kind": victim})
        if evicted:
            empty_device_cache()


def _transformer_bytes(pipe: Any) -> int:
    """Weight bytes of the pipeline's own model (Redux has an image encoder, not a transformer)."""
    model = getattr(pipe, "transformer", None) or getattr(pipe, "image_embedder", None)
    if model is None:
        return 0
    return sum(p.numel() * p.element_size() for p in model.parameters())


def empty_device_cache() -> None:
    """Give the accelerator's cached blocks back after models were dropped."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
