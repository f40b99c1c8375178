"""Loading a process's first pipeline before its workers claim tasks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fluxhost.engine.interface import ServingEngine
    from fluxhost.engine.types import Request

log = logging.getLogger("fluxhost.worker.worker")  # the name operators' log filters know

# The kind warmed up before claiming: base serves most endpoints (and Redux needs its encoders);
# a model set without base warms the first kind it has.
WARM_UP_ORDER = ("base", "fill", "canny", "depth", "kontext")


class Warmup:
    """Loads one pipeline per process before its workers claim tasks: with real weights that
    takes minutes, and a task should wait in the queue (where another worker may take it), not
    be claimed here. Every worker calls `run`; the first does the load, the others wait for it.
    Whether the load worked is the engine's to say (`Engine.load_failures`).

    `compiled`: the kinds whose transformer blocks are compiled (FLUXHOST_COMPILE), each with
    a tiny request (fluxhost.engine.speed_warmup) run after the load, so torch.compile's first
    call is paid here, before /ready turns 200, not by a client's task. One that fails is kept
    in `failures` (kind -> why), which /ready reports."""

    def __init__(self, engine: ServingEngine,
                 compiled: Sequence[tuple[str, Request]] = ()) -> None:
        self.engine = engine
        self.compiled = tuple(compiled)
        self.done = threading.Event()
        self.failures: dict[str, str] = {}
        # What the warm-up does now, for /ready's reason ("loading the base model").
        self.stage: str | None = None
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
        first = self.kind
        if first is not None:
            self.stage = f"loading the {first} model"
            self._step(owner, first, "loaded", partial(self.engine.load, first))
        for kind, request in self.compiled:
            self.stage = f"compiling the {kind} model"
            if not self._step(owner, kind, "compiled and warmed up",
                              partial(self.engine.run, request)):
                self.failures.setdefault(kind, f"{kind} warm-up failed (compile=true); see "
                                         "the log, or set compile to false")

    def _step(self, owner: str, kind: str, done: str, work: Callable[[], object]) -> bool:
        """Run `work` (a load or a warm-up generation of `kind`); whether it worked."""
        from fluxhost.engine.types import EngineError

        started = time.perf_counter()
        try:
            work()
        except EngineError:
            return False  # the engine logged the cause as one line; tasks and /ready report it
        except Exception:
            log.exception("could not load the %s pipeline (%s); tasks will report why", kind,
                          self.stage)
            return False
        log.info("%s pipeline %s", kind, done, extra={
            "worker": owner, "seconds": round(time.perf_counter() - started, 2)})
        return True
