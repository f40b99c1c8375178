"""Which task kinds a process's workers claim."""

from __future__ import annotations

import logging
from collections.abc import Collection

from fluxhost.kinds import AUXILIARY_PIPELINES, KLEIN_TRAINING_KINDS, TRAINING_KIND

log = logging.getLogger(__name__)


def served_kinds(requested: str | None, available: Collection[str]) -> frozenset[str]:
    """`requested` (comma-separated, from --kinds or WORKER_KINDS), or every kind the model set
    `available` has: its endpoint pipelines, and training when it has base (training runs on
    the base model; a klein training when it has that klein kind), operator-defined kinds
    included. A requested kind the model set lacks is dropped with a warning: claiming it would
    only end its tasks in Error."""
    runnable = (set(available) - AUXILIARY_PIPELINES) | (
        {TRAINING_KIND} if "base" in available else set()) | {
        task for base, task in KLEIN_TRAINING_KINDS.items() if base in available}
    if requested is None:
        return frozenset(runnable)
    wanted = {k.strip() for k in requested.split(",") if k.strip()}
    missing = sorted(wanted - runnable)
    if missing:
        log.warning("kinds not served: the model set lacks their pipeline",
                    extra={"kinds": missing})
    return frozenset(wanted & runnable)
