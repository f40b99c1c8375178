"""The pipeline-kind vocabulary: which kinds are built in, which a task or a worker may have,
and how an operator may name kinds of their own. A leaf: imports nothing of fluxhost, so
settings, the catalog, the store and the workers all read it without cycles.

A kind is a name (a key of FLUXHOST_MODELS, stored on each task) for one model; a pipeline is
the diffusers class and request semantics the kind runs. FLUX.1's built-in kinds are their own
pipelines ("base" runs the base pipeline); FLUX.2's are named after their weights and share
three pipelines ("klein-4b" and "klein-9b" both run "klein")."""

from __future__ import annotations

import re
from typing import Literal

# FLUX.1's pipelines, each also the built-in kind (and FLUXHOST_MODELS key) that runs it.
# (Kept under this name: FLUX.1's kinds and pipelines coincide.)
BUILTIN_PIPELINES = ("base", "fill", "canny", "depth", "kontext", "redux")
FLUX1_PIPELINES = BUILTIN_PIPELINES
# FLUX.2's pipelines: Flux2Pipeline (FLUX.2 [dev]), Flux2KleinPipeline, Flux2KleinKVPipeline.
# All three take the same request (a prompt and up to ten reference images), so any FLUX.2
# endpoint can run on any of them.
FLUX2_PIPELINES = ("flux2", "klein", "klein-kv")
# FLUX.2's built-in kinds -> the pipeline each runs.
FLUX2_KINDS: dict[str, str] = {
    "flux2-dev": "flux2",
    "klein-4b": "klein",
    "klein-9b": "klein",
    "klein-9b-kv": "klein-kv",
}
# Every built-in kind (FLUXHOST_MODELS key, besides the depth estimator) -> its pipeline.
BUILTIN_KINDS: dict[str, str] = {**{p: p for p in FLUX1_PIPELINES}, **FLUX2_KINDS}
DEPTH_ESTIMATOR_KEY = "depth_estimator"
# What an operator-defined kind may run: the pipelines an endpoint can be served by (Redux only
# ever assists a base pipeline, so it is no endpoint's kind).
CUSTOM_PIPELINES = ("base", "fill", "canny", "depth", "kontext", *FLUX2_PIPELINES)
CustomPipeline = Literal["base", "fill", "canny", "depth", "kontext", "flux2", "klein",
                         "klein-kv"]
# Pipelines that only assist another one: no task is of their kind.
AUXILIARY_PIPELINES = frozenset({"redux"})
# The built-in kinds an endpoint can run on (all but the auxiliary ones).
ENDPOINT_KINDS = tuple(k for k, p in BUILTIN_KINDS.items() if p not in AUXILIARY_PIPELINES)
# Text to image runs on either: FluxPipeline, or Kontext without an input image (and Kontext's
# editing falls back to text to image at its input image's aspect on FluxPipeline).
TEXT_PIPELINES = ("base", "kontext")
# Training tasks (endpoint "finetune") have this kind; it runs on the base model.
TRAINING_KIND = "training"
TRAINING_ENDPOINT = "finetune"
# The FLUX.2 [klein] kinds a finetune may be trained on instead (POST /v1/finetune's base_model,
# a fluxhost extension) -> the kind of that training task: a worker claims it only when its
# model set has that klein kind (FLUX.1 training needs base).
KLEIN_TRAINING_KINDS: dict[str, str] = {"klein-4b": "train-klein-4b",
                                        "klein-9b": "train-klein-9b"}
# Task kinds a worker may claim: the endpoints' kinds and training; plus the operator-defined
# kinds of FLUXHOST_MODELS.
WORKER_KINDS = (*ENDPOINT_KINDS, TRAINING_KIND, *KLEIN_TRAINING_KINDS.values())
# A kind is stored on its tasks (tasks.kind, VARCHAR(16)) and is a metric label value.
KIND_NAME = re.compile(r"[a-z][a-z0-9_-]{0,15}")
KIND_MAX_CHARS = 16
RESERVED_KINDS = (TRAINING_KIND, *KLEIN_TRAINING_KINDS.values(), "other", DEPTH_ESTIMATOR_KEY)


def training_kind(base_model: str | None) -> str:
    """The task kind of a training on `base_model` (None: FLUX.1's base); KeyError for a base
    no training runs on."""
    return TRAINING_KIND if base_model is None else KLEIN_TRAINING_KINDS[base_model]


def pipelines_for(kind: str) -> tuple[str, ...]:
    """The pipelines that can serve an endpoint whose default kind is `kind`: either text
    pipeline for a text-to-image kind, any FLUX.2 pipeline for a FLUX.2 kind; the
    image-conditioned FLUX.1 kinds need their own, except Kontext: its request (a prompt and up
    to four reference images) is also a FLUX.2 request, and the provider names FLUX.2 as
    Kontext's successor for editing."""
    if kind == "kontext":
        return (*TEXT_PIPELINES, *FLUX2_PIPELINES)
    if kind in TEXT_PIPELINES:
        return TEXT_PIPELINES
    if kind in FLUX2_KINDS:
        return FLUX2_PIPELINES
    return (kind,)
