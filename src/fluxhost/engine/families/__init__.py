"""The family registry: which family serves a request type, and how each pipeline loads.

A family (fluxhost.engine.families.protocol.Family) is one module serving one request type;
families of one model generation live in one package (`flux1/`, `flux2/`) with what they share
(text encoders, prompt encoding, dev model builders). The engine looks a request's family up
here by the request's type, and a pipeline's load recipe by its FLUXHOST_MODELS name. To add a
family: write its module, add its instance to FAMILIES; a pipeline name must belong to one model
family.

Torch-free, like every module it imports.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from fluxhost.engine.families.flux1 import control, fill, kontext, text_to_image
from fluxhost.engine.families.flux2 import generation as flux2
from fluxhost.engine.families.flux2 import training as flux2_training
from fluxhost.engine.families.protocol import Family, PipelineSpec, TrainingFamily
from fluxhost.engine.types import Request

R = TypeVar("R", bound=Request)

FAMILIES: tuple[Family[Any], ...] = (
    text_to_image.FAMILY,
    fill.FILL_FAMILY,
    fill.EXPAND_FAMILY,
    control.FAMILY,
    kontext.FAMILY,
    flux2.FAMILY,
)
# The family whose base pipeline LoRAs are trained on by default (FLUX.1).
TRAINING: TrainingFamily = text_to_image.FAMILY
# Pipeline -> the family that trains LoRAs on it: FLUX.1's base, and FLUX.2 [klein] (a finetune's
# base_model names a klein kind).
TRAINING_FAMILIES: dict[str, TrainingFamily] = {
    TRAINING.pipeline: TRAINING,
    flux2_training.TRAINING.pipeline: flux2_training.TRAINING,
}

_BY_REQUEST: dict[type, Family[Any]] = {f.request_type: f for f in FAMILIES}
_PIPELINES: dict[str, PipelineSpec] = {
    spec.name: spec for f in FAMILIES for spec in (*f.pipelines, *f.helpers)
}


def family_for(request: R) -> Family[R]:
    """The family serving `request`'s type; TypeError for a type no family serves."""
    family = _BY_REQUEST.get(type(request))
    if family is None:
        raise TypeError(f"no engine family serves {type(request).__name__} requests")
    return cast("Family[R]", family)


def pipeline_spec(name: str) -> PipelineSpec:
    """The load recipe of pipeline `name`; ValueError for a name no family has."""
    try:
        return _PIPELINES[name]
    except KeyError:
        raise ValueError(f"unknown pipeline {name!r}") from None


def training_family(pipeline: str) -> TrainingFamily:
    """The family that trains LoRAs on `pipeline`; ValueError naming it for one none trains on."""
    try:
        return TRAINING_FAMILIES[pipeline]
    except KeyError:
        raise ValueError(f"no LoRA training on a {pipeline!r} pipeline; training runs on: "
                         f"{', '.join(TRAINING_FAMILIES)}") from None


def pipeline_names() -> frozenset[str]:
    """Every pipeline a model set may configure (base, fill, ..., redux)."""
    return frozenset(_PIPELINES)
