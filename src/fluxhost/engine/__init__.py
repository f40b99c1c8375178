"""Inference engine: diffusers pipelines behind `Engine.run(request)`, served by the family
registered for the request's type (`fluxhost.engine.families`).

Importing this package is cheap (no torch/diffusers): the API process uses the request types,
errors and `encode_image`; torch and diffusers load on the first `Engine.load`.
"""

from fluxhost.engine.encode import CONTENT_TYPES, encode_image
from fluxhost.engine.engine import Engine
from fluxhost.engine.hf import drop_torchvision_fallback_warnings
from fluxhost.engine.modelset import DEV_MODEL_WARNING
from fluxhost.engine.notices import drop_quantization_notices
from fluxhost.engine.types import (
    Control,
    EngineError,
    Expand,
    Fill,
    Flux2,
    ImagePrompt,
    Interrupted,
    InvalidLora,
    Kontext,
    LoraSpec,
    MissingPipeline,
    TextToImage,
)

# Every path that loads a model imports this package first (the engine, the dev model set, the
# trainer): the place to drop transformers' torchvision notices before any load prints them,
# and torchao's import notices (fluxhost.engine.notices).
drop_torchvision_fallback_warnings()
drop_quantization_notices()

__all__ = [
    "CONTENT_TYPES",
    "DEV_MODEL_WARNING",
    "Control",
    "Engine",
    "EngineError",
    "Expand",
    "Fill",
    "Flux2",
    "ImagePrompt",
    "Interrupted",
    "InvalidLora",
    "Kontext",
    "LoraSpec",
    "MissingPipeline",
    "TextToImage",
    "encode_image",
]
