"""Parameter counts of a model from its config alone: the diffusers or transformers class built
on the meta device (no memory, no download), split into what weight-only quantization shrinks
(nn.Linear weights) and the rest (biases, norms, embeddings, convolutions)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fluxhost.engine.memory.published import Published


@dataclass(frozen=True)
class Count:
    linear: int  # parameters in nn.Linear weights: what int8/float8/nf4 store smaller
    other: int

    @property
    def total(self) -> int:
        return self.linear + self.other


def count(model: Published) -> Count:
    return _count(model.library, model.class_name,
                  json.dumps(model.config, sort_keys=True, default=list))


@lru_cache(maxsize=64)
def _count(library: str, class_name: str, config_json: str) -> Count:
    import torch

    config = json.loads(config_json)
    with torch.device("meta"):
        module = _build(library, class_name, config)
    return split(module)


def _build(library: str, class_name: str, config: dict[str, Any]) -> Any:
    if library != "transformers":  # diffusers, or one of its pipeline modules ("flux")
        import diffusers

        return getattr(diffusers, class_name).from_config(config)
    import transformers

    cls = getattr(transformers, class_name)
    config.pop("model_type", None)  # the class's config_class knows its own
    return cls(cls.config_class(**config))


def split(module: Any) -> Count:
    """`module`'s parameters (each once: tied ones count once), Linear weights apart."""
    import torch

    linear_ids = {id(m.weight) for m in module.modules() if isinstance(m, torch.nn.Linear)}
    linear = other = 0
    for param in module.parameters():  # parameters() yields a tied parameter once
        if id(param) in linear_ids:
            linear += param.numel()
        else:
            other += param.numel()
    return Count(linear, other)


def local_models(directory: Path) -> dict[str, Published]:
    """A diffusers pipeline directory's components as Published entries, from its
    model_index.json and each component's config.json (those without one are left out)."""
    index = json.loads((directory / "model_index.json").read_text())
    found: dict[str, Published] = {}
    for name, value in index.items():
        config_file = directory / name / "config.json"
        if name.startswith("_") or not isinstance(value, list) or not config_file.is_file():
            continue
        library, class_name = value
        config = {k: v for k, v in json.loads(config_file.read_text()).items()
                  if not k.startswith("_") and k not in ("architectures", "dtype",
                                                         "torch_dtype", "transformers_version")}
        found[name] = Published(f"{name} ({class_name})", library, class_name, config)
    return found
