"""The pipeline kind a task runs on, from its endpoint, as a metric label."""

from __future__ import annotations

import functools

TRAINING = "training"
OTHER = "other"


@functools.cache
def _endpoint_kinds() -> dict[str, str]:
    # Imported late: the engine imports this module, and jobs.py imports the settings.
    from fluxhost.store.queue import TRAINING_ENDPOINT
    from fluxhost.worker.jobs import ENDPOINT_KINDS

    return {**ENDPOINT_KINDS, TRAINING_ENDPOINT: TRAINING}


def kind_of(endpoint: str) -> str:
    """"base", "fill", ... for generation endpoints, "training" for finetuning, else "other"
    (bounded: an unknown endpoint never makes a label value of its own)."""
    return _endpoint_kinds().get(endpoint, OTHER)


def all_kinds() -> list[str]:
    """Every label value `kind_of` can give, so that a gauge reports 0 rather than nothing."""
    return sorted({*_endpoint_kinds().values(), OTHER})
