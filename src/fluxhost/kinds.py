"""The pipeline-kind vocabulary: which kinds are built in, which a task or a worker may have,
and how an operator may name kinds of their own. A leaf: imports nothing of fluxhost, so
settings, the catalog, the store and the workers all read it without cycles."""

from __future__ import annotations

import re
from typing import Literal

# The built-in keys of FLUXHOST_MODELS: the pipeline kinds, plus the depth estimator the depth
# kind uses. Each built-in pipeline kind is also the pipeline (diffusers class and request
# semantics) it runs.
BUILTIN_PIPELINES = ("base", "fill", "canny", "depth", "kontext", "redux")
DEPTH_ESTIMATOR_KEY = "depth_estimator"
# What an operator-defined kind may run: the pipelines an endpoint can be served by (Redux only
# ever assists a base pipeline, so it is no endpoint's kind).
CUSTOM_PIPELINES = ("base", "fill", "canny", "depth", "kontext")
CustomPipeline = Literal["base", "fill", "canny", "depth", "kontext"]
# Pipelines that only assist another one: no task is of their kind.
AUXILIARY_PIPELINES = frozenset({"redux"})
# Text to image runs on either: FluxPipeline, or Kontext without an input image (and Kontext's
# editing falls back to text to image at its input image's aspect on FluxPipeline).
TEXT_PIPELINES = ("base", "kontext")
# Training tasks (endpoint "finetune") have this kind; it runs on the base model.
TRAINING_KIND = "training"
TRAINING_ENDPOINT = "finetune"
# Task kinds a worker may claim: the endpoints' pipelines and training; plus the
# operator-defined kinds of FLUXHOST_MODELS.
WORKER_KINDS = (*CUSTOM_PIPELINES, TRAINING_KIND)
# A kind is stored on its tasks (tasks.kind, VARCHAR(16)) and is a metric label value.
KIND_NAME = re.compile(r"[a-z][a-z0-9_-]{0,15}")
KIND_MAX_CHARS = 16
RESERVED_KINDS = (TRAINING_KIND, "other", DEPTH_ESTIMATOR_KEY)


def pipelines_for(kind: str) -> tuple[str, ...]:
    """The pipelines that can serve an endpoint whose default kind is `kind`: either text
    pipeline for a text-to-image kind; the image-conditioned kinds need their own."""
    return TEXT_PIPELINES if kind in TEXT_PIPELINES else (kind,)
