"""Inference engine: diffusers FLUX pipelines behind `Engine`.

Importing this package is cheap (no torch/diffusers): the API process uses the request types,
errors and `encode_image`; torch and diffusers load on the first `Engine.load`.
"""

from fluxhost.engine.devmodels import DEV_MODEL_WARNING
from fluxhost.engine.encode import CONTENT_TYPES, encode_image
from fluxhost.engine.engine import Engine
from fluxhost.engine.types import (
    Control,
    EngineError,
    Expand,
    Fill,
    ImagePrompt,
    Interrupted,
    InvalidLora,
    Kontext,
    LoraSpec,
    MissingPipeline,
    TextToImage,
)

__all__ = [
    "CONTENT_TYPES",
    "DEV_MODEL_WARNING",
    "Control",
    "Engine",
    "EngineError",
    "Expand",
    "Fill",
    "ImagePrompt",
    "Interrupted",
    "InvalidLora",
    "Kontext",
    "LoraSpec",
    "MissingPipeline",
    "TextToImage",
    "encode_image",
]
