"""Loading a process's first pipeline before its workers claim tasks."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fluxhost.engine.interface import ServingEngine

log = logging.getLogger("fluxhost.worker.worker")  # the name operators' log filters know

# The kind warmed up before claiming: base serves most endpoints (and Redux needs its encoders);
# a model set without base warms the first kind it has.
WARM_UP_ORDER = ("base", "fill", "canny", "depth", "kontext")


class Warmup:
    """Loads one pipeline per process before its workers claim tasks: with real weights that
    takes minutes, and a task should wait in the queue (where another worker may take it), not
    be claimed here. Every worker calls `run`; the first does the load, the others wait for it.
    Whether the load worked is the engine's to say (`Engine.load_failures`)."""

    def __init__(self, engine: ServingEngine) -> None:
        self.engine = engine
        self.done = threading.Event()
        self._lock = threading.Lock()

    @property
    def kind(self) -> str | None:
        kinds = self.engine.available_kinds()
        builtin = next((k for k in WARM_UP_ORDER if k in kinds), None)
        # A model set of operator-defined kinds only warms the first of them.
        return builtin or next((k for k in sorted(kinds) if k != "redux"), None)

    def run(self, owner: str) -> None:
        with self._lock:
            if not self.done.is_set():
                try:
                    self._load(owner)
                finally:
                    self.done.set()

    def _load(self, owner: str) -> None:
        from fluxhost.engine.types import EngineError

        kind = self.kind
        if kind is None:
            return
        started = time.perf_counter()
        try:
            self.engine.load(kind)
        except EngineError:
            return  # the engine logged the cause as one line; tasks and /ready report it
        except Exception:
            log.exception("could not load the %s pipeline; tasks will report why", kind)
            return
        log.info("%s pipeline loaded", kind, extra={
            "worker": owner, "seconds": round(time.perf_counter() - started, 2)})
