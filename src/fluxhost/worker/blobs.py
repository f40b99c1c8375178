"""A worker's object-store calls, retried: a task's inputs, its finetune's weights and its
result are read and written while the task's lease is held (the heartbeat goes on), so a store
that is down for a minute delays the task instead of failing it, or losing a finished image.
Only after BLOB_RETRY_SECONDS of failures does the caller end the task Error."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from fluxhost.storage.blobs import BlobStoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_PAUSE = 1.0
MAX_PAUSE = 30.0
# How often a pause looks at `should_stop` (lease lost, shutdown).
STOP_POLL = 0.2


class BlobUnavailable(BlobStoreError):
    """The store kept failing for the whole retry budget, or the task stopped meanwhile."""


def retrying(call: Callable[[], T], *, what: str, budget: float,
             should_stop: Callable[[], bool] = lambda: False,
             task_id: str | None = None) -> T:
    """`call()`, retried on BlobStoreError with pauses of 1, 2, 4 ... 30 s while less than
    `budget` seconds have passed since the first try and `should_stop()` stays false; then
    BlobUnavailable (the last error as its cause). Other errors are not retried."""
    deadline = time.monotonic() + budget
    pause = FIRST_PAUSE
    attempt = 1
    while True:
        try:
            return call()
        except BlobStoreError as exc:
            left = deadline - time.monotonic()
            if left <= 0 or should_stop():
                log.error("%s: the blob store failed %d time(s); giving up: %s", what, attempt,
                          exc, extra={"task_id": task_id})
                raise BlobUnavailable(f"{what}: the blob store failed {attempt} time(s)") \
                    from exc
            wait = min(pause, left)
            log.warning("%s failed (attempt %d); retrying in %.1fs: %s", what, attempt, wait,
                        exc, extra={"task_id": task_id})
            if _pause(wait, should_stop):
                raise BlobUnavailable(f"{what}: stopped while retrying") from exc
            pause = min(pause * 2, MAX_PAUSE)
            attempt += 1


def _pause(seconds: float, should_stop: Callable[[], bool]) -> bool:
    """Sleep `seconds`; True as soon as `should_stop()` is."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if should_stop():
            return True
        time.sleep(min(STOP_POLL, left))
    return should_stop()
