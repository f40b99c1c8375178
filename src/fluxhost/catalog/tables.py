"""Lookups and tables derived from the catalog, for the layers that want a mapping: the SDK's
endpoint tables, the default kinds the store writes on tasks, the kinds metrics label."""

from __future__ import annotations

from pydantic import BaseModel

from fluxhost.catalog.entries import ENDPOINTS
from fluxhost.catalog.record import Endpoint
from fluxhost.kinds import KIND_MAX_CHARS, KLEIN_TRAINING_KINDS, TRAINING_ENDPOINT, TRAINING_KIND

BY_NAME: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}
NAMES = tuple(BY_NAME)
# The SDK's tables (fluxhost.client exports them): request model by endpoint, and the base64
# image fields of each request model.
ENDPOINT_MODELS: dict[str, type[BaseModel]] = {e.name: e.model for e in ENDPOINTS}
IMAGE_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {e.model: e.image_fields
                                                        for e in ENDPOINTS}
# The pipeline kind each endpoint runs on by default (claims, metrics and /ready read it);
# FLUXHOST_ENDPOINT_KINDS overrides it per endpoint (`Settings.endpoint_kind`). A task's kind
# is stored at submit so that a worker claims only what it can run.
ENDPOINT_KINDS: dict[str, str] = {e.name: e.kind for e in ENDPOINTS}
# The pipelines that can serve each endpoint (FLUXHOST_ENDPOINT_KINDS may move it only there).
ENDPOINT_PIPELINES: dict[str, tuple[str, ...]] = {e.name: e.pipelines for e in ENDPOINTS}
TASK_KINDS = (*dict.fromkeys(ENDPOINT_KINDS.values()), TRAINING_KIND,
              *KLEIN_TRAINING_KINDS.values())


def find(endpoint: str) -> Endpoint | None:
    """The record of `endpoint` ("flux-dev" or "/v1/flux-dev"), None if there is none."""
    return BY_NAME.get(endpoint.strip("/").removeprefix("v1/"))


def get(endpoint: str) -> Endpoint:
    """The record of `endpoint` ("flux-dev" or "/v1/flux-dev"); KeyError naming the known."""
    record = find(endpoint)
    if record is None:
        raise KeyError(f"unknown endpoint {endpoint!r}; known: {', '.join(NAMES)}")
    return record


def endpoint_model(endpoint: str) -> type[BaseModel]:
    """The request model of `endpoint` ("flux-dev" or "/v1/flux-dev"); KeyError naming it."""
    return get(endpoint).model


def task_kind(endpoint: str) -> str:
    """The default kind of a task of `endpoint` (an unknown endpoint is its own kind: no worker
    serves it, which `workers.unserved_queued_by_kind` shows)."""
    if endpoint == TRAINING_ENDPOINT:
        return TRAINING_KIND
    record = BY_NAME.get(endpoint)
    return record.kind if record is not None else endpoint[:KIND_MAX_CHARS]
