"""Deletes tasks, input images and results once past the retention period."""

from __future__ import annotations

import logging
import threading

from fluxhost.services import Services
from fluxhost.store.outage import log_failure
from fluxhost.store.tasks import purge_expired

log = logging.getLogger(__name__)


def sweep(svc: Services) -> int:
    """One pass; returns how many blobs were deleted."""
    deleted = 0
    while True:
        keys = purge_expired(svc.store, svc.settings.result_retention_seconds)
        for key in keys:
            try:
                svc.blobs.delete(key)
                deleted += 1
            except Exception:
                log.exception("could not delete blob", extra={"blob": key})
        if len(keys) < 500:
            return deleted


def run_forever(svc: Services, stop: threading.Event, interval: float = 60.0) -> None:
    while not stop.wait(interval):
        try:
            n = sweep(svc)
            if n:
                log.info("retention sweep", extra={"blobs_deleted": n})
        except Exception as exc:
            log_failure(log, "retention sweep failed", exc)
