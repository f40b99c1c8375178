"""Failed model loads, remembered with a backoff until a later attempt succeeds.

Nothing is cached as failed: the next request of a kind tries its load again. The record is what
/ready and the task errors report, and what lets an idle worker retry on a backoff so that a
fixed problem (a token set, a directory copied) heals without traffic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fluxhost.engine.loaderrors import ModelLoadError, load_error

log = logging.getLogger("fluxhost.engine.engine")  # the name operators' log filters know
T = TypeVar("T")

# An idle worker retries a failed load after this long, doubling per failure up to the maximum
# (a real FLUX load reads tens of GB, so retrying much more often would mostly thrash).
RELOAD_RETRY_SECONDS = 30.0
RELOAD_RETRY_MAX_SECONDS = 300.0


@dataclass
class _Failure:
    error: ModelLoadError
    failures: int
    retry_at: float  # time.monotonic()


class LoadFailures:
    """Model name (a pipeline kind, or an auxiliary model) -> its last load attempt, while that
    attempt failed. Callers serialise `attempt`; reads take a copy and need no lock."""

    def __init__(self) -> None:
        self._failures: dict[str, _Failure] = {}

    def attempt(self, name: str, source: str, load: Callable[[str], T]) -> T:
        """`load(source)` for `name`, keeping the record up to date; a failure is logged as one
        line (the traceback only at DEBUG) and raised as ModelLoadError."""
        try:
            loaded = load(source)
        except ModelLoadError as exc:
            self._record(name, exc)
            raise
        except Exception as exc:  # a loader that does not classify its own errors
            error = load_error(name, source, exc)
            self._record(name, error)
            raise error from exc
        if self._failures.pop(name, None) is not None:
            log.info("model loaded after an earlier failure",
                     extra={"kind": name, "model_source": source})
        return loaded

    def _record(self, name: str, error: ModelLoadError) -> None:
        previous = self._failures.get(name)
        failures = previous.failures + 1 if previous else 1
        wait = min(RELOAD_RETRY_SECONDS * 2 ** (failures - 1), RELOAD_RETRY_MAX_SECONDS)
        self._failures[name] = _Failure(error, failures, time.monotonic() + wait)
        log.error("%s", error, extra={"kind": name, "model_source": error.source})
        log.debug("model load traceback", exc_info=error)

    def reasons(self) -> dict[str, str]:
        """Name -> why its last load attempt failed."""
        failures = dict(self._failures)  # a copy: loads change it from other threads
        return {name: str(f.error) for name, f in failures.items()}

    def due(self) -> list[str]:
        """The names whose backoff has passed, to be tried again."""
        now = time.monotonic()
        return [name for name, f in list(self._failures.items()) if f.retry_at <= now]
