"""The one catalog of generation endpoints: one frozen record per endpoint (`Endpoint`), from
which the routes, the SDK's tables and typed methods, the CLI's subcommands, planning, pricing,
the default task kinds and the settings' checks are all derived. Adding an endpoint family
starts with an entry in `entries.py` (docs/architecture.md, "Adding an endpoint family").

Imports only wire/ and fluxhost.kinds: the client-only install (httpx, pydantic) imports it."""

from fluxhost.catalog.entries import (
    ENDPOINTS,
    FINETUNED_TEXT_TO_IMAGE,
    FIRST_REQUEST,
    FLUX2_IMAGE_FIELDS,
    KONTEXT_IMAGE_FIELDS,
)
from fluxhost.catalog.record import Endpoint, Sizing, method_name
from fluxhost.catalog.tables import (
    ENDPOINT_KINDS,
    ENDPOINT_MODELS,
    ENDPOINT_PIPELINES,
    IMAGE_FIELDS,
    NAMES,
    TASK_KINDS,
    endpoint_model,
    find,
    get,
    task_kind,
)

__all__ = [
    "ENDPOINTS",
    "ENDPOINT_KINDS",
    "ENDPOINT_MODELS",
    "ENDPOINT_PIPELINES",
    "FINETUNED_TEXT_TO_IMAGE",
    "FIRST_REQUEST",
    "FLUX2_IMAGE_FIELDS",
    "IMAGE_FIELDS",
    "KONTEXT_IMAGE_FIELDS",
    "NAMES",
    "TASK_KINDS",
    "Endpoint",
    "Sizing",
    "endpoint_model",
    "find",
    "get",
    "method_name",
    "task_kind",
]
