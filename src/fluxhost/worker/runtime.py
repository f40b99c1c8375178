"""The background side of a process: worker threads, the webhook dispatcher, the janitor.
Used embedded in `fluxhost serve` and on its own by `fluxhost worker`."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fluxhost.services import Services
from fluxhost.store import queue
from fluxhost.store import workers as registry
from fluxhost.store.outage import log_failure
from fluxhost.worker import janitor
from fluxhost.worker.guard import Guard
from fluxhost.worker.kinds import served_kinds
from fluxhost.worker.unserved import UnservedWatch
from fluxhost.worker.wakeup import NotifyListener
from fluxhost.worker.warmup import Warmup
from fluxhost.worker.worker import Worker

if TYPE_CHECKING:
    from fluxhost.engine.interface import WorkerEngine

log = logging.getLogger(__name__)

# How often a process refreshes its `last_seen` in the worker registry (live_workers_by_kind
# counts rows seen within 30 s by default).
REGISTRY_REFRESH_SECONDS = 5.0


def _set_torch_threads(n: int) -> None:
    """Bound torch's intra-op threads (TORCH_THREADS): N worker processes on one machine each
    default to every core, and oversubscribed they run slower together than one alone."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


@dataclass(frozen=True)
class Readiness:
    """Whether this process's workers can run tasks. `reason` says why not (the first
    problem); `models` maps each kind loaded, loading or failed to "loaded", "loading" or the
    failure's reason."""

    ready: bool
    reason: str | None = None
    models: dict[str, str] = field(default_factory=dict)


class Runtime:
    def __init__(self, services: Services, *, workers: int, dispatch_webhooks: bool = True,
                 engine_factory: Callable[[], WorkerEngine] | None = None) -> None:
        self.svc = services
        self.n_workers = workers
        self.dispatch_webhooks = dispatch_webhooks
        self.engine_factory = engine_factory
        self.workers: list[Worker] = []
        self.threads: list[threading.Thread] = []
        self.stop_event = threading.Event()
        self.dispatcher: Any = None
        self.engine: WorkerEngine | None = None
        self.warmup: Warmup | None = None
        prefix = f"{socket.gethostname()}-{os.getpid()}"
        self.name_prefix = prefix
        self.kinds: frozenset[str] | None = None  # task kinds the workers claim
        self.registry_id: str | None = None  # this process's row in the workers table
        self.listener: NotifyListener | None = None

    def start(self) -> None:
        if self.n_workers > 0:
            from fluxhost.engine.modelset import resolve_model_set

            # Builds the dev model set on first start, before any worker claims a task.
            resolve_model_set(self.svc.settings)
            _set_torch_threads(self.svc.settings.torch_threads)
        # One engine per process, shared: weights load once; it runs one generation at a time,
        # so extra worker threads overlap only the non-engine work (decode, encode, DB, blobs).
        engine = self.engine = self._engine() if self.n_workers > 0 else None
        if engine is not None:
            self.kinds = served_kinds(self.svc.settings.worker_kinds, engine.available_kinds())
        # Workers load the first pipeline once, and warm up the compiled kinds they serve,
        # before any claims; /ready waits for it.
        warmup = self.warmup = self._warmup(engine) if engine is not None else None
        guard = Guard(self.svc.settings)  # upsampler and image classifier: once per process
        if engine is not None:
            for i in range(self.n_workers):
                worker = Worker(self.svc, engine, name=f"{self.name_prefix}-w{i}", guard=guard,
                                on_finished=self._wake_dispatcher, warmup=warmup,
                                kinds=self.kinds)
                self.workers.append(worker)
                self._spawn(f"fluxhost-worker-{i}", worker.run_forever, self.svc.task_available)
        if self.dispatch_webhooks:
            from fluxhost.webhooks import WebhookDispatcher

            self.dispatcher = WebhookDispatcher(
                self.svc.store, self.svc.signer, self.svc.settings,
                owner=f"{self.name_prefix}-webhooks",
            )
            self._spawn("fluxhost-webhooks", self.dispatcher.run_forever, self.stop_event)
        self._spawn("fluxhost-janitor", janitor.run_forever, self.svc, self.stop_event)
        self._spawn("fluxhost-unserved", UnservedWatch.of(self.svc).run_forever, self.stop_event)
        if self.kinds is not None:
            self._start_registry(self.kinds)
            self._start_listener(self.kinds)

    def _start_registry(self, kinds: frozenset[str]) -> None:
        """Register the process in the workers table and keep its row fresh, so that a task
        kind no live worker serves shows (store.workers.unserved_queued_by_kind)."""
        self.registry_id = registry.register(self.svc.store, kinds)
        log.info("workers registered", extra={"kinds": sorted(kinds),
                                               "registry_id": self.registry_id})
        self._spawn("fluxhost-registry", self._refresh_registry, kinds)

    def _refresh_registry(self, kinds: frozenset[str]) -> None:
        while not self.stop_event.wait(REGISTRY_REFRESH_SECONDS):
            try:
                if self.registry_id and not registry.touch(self.svc.store, self.registry_id):
                    # The row was removed (an operator's cleanup): be visible again.
                    self.registry_id = registry.register(self.svc.store, kinds)
            except Exception as exc:
                log_failure(log, "worker registry refresh failed; retrying", exc)

    def _start_listener(self, kinds: frozenset[str]) -> None:
        """PostgreSQL: wake the idle workers on NOTIFY instead of waiting for their poll."""
        if not (self.svc.store.is_postgres and self.svc.settings.listen_notify):
            return
        self.listener = NotifyListener(self.svc.settings.resolved_database_url, kinds,
                                       self.svc.task_available.set, self.stop_event)
        self._spawn("fluxhost-listener", self.listener.run_forever)

    def readiness(self) -> Readiness:
        """Ready when there are no workers, or once the warm-up load finished and no model's
        last load attempt failed (a kind not yet used counts as fine: kinds load lazily)."""
        if self.engine is None or self.warmup is None:
            return Readiness(ready=self.n_workers == 0,
                             reason=None if self.n_workers == 0 else "workers not started")
        models = dict.fromkeys(sorted(self.engine.loaded_kinds()), "loaded")
        failures = dict(self.engine.load_failures())
        if not self.warmup.done.is_set():
            kind = self.warmup.kind or "first"
            models.setdefault(kind, "loading")
            stage = self.warmup.stage or f"loading the {kind} model"
            return Readiness(False, f"warming up: {stage}", models)
        failures.update(self.warmup.failures)  # compiled kinds whose warm-up failed
        models.update(failures)
        if failures:
            return Readiness(False, "; ".join(failures.values()), models)
        return Readiness(True, None, models)

    def _warmup(self, engine: WorkerEngine) -> Warmup:
        from fluxhost.engine.speed_warmup import compiled_kinds

        settings = self.svc.settings
        kinds = set(engine.available_kinds()) & set(self.kinds or ())
        return Warmup(engine, compiled_kinds(kinds, settings.kind_pipeline,
                                             lambda kind: settings.modes_for(kind).compile))

    def _engine(self) -> WorkerEngine:
        if self.engine_factory is not None:
            return self.engine_factory()
        from fluxhost.engine import Engine

        return Engine(self.svc.settings)

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _unregister(self) -> None:
        if self.registry_id is None:
            return
        try:
            registry.unregister(self.svc.store, self.registry_id)
        except Exception:  # a killed process's row ages out anyway
            log.exception("could not remove this process from the worker registry")
        self.registry_id = None

    def _running_tasks(self) -> int:
        try:
            return queue.running_count(self.svc.store, [w.owner for w in self.workers])
        except Exception:  # the database may be what is going away; shut down regardless
            log.exception("could not count running tasks at shutdown")
            return 0

    def _log_waited(self, waited: float, grace_seconds: float) -> None:
        if any(t.is_alive() for t in self.threads if t.name.startswith("fluxhost-worker-")):
            log.warning("shutdown: grace period of %gs over; stopping the running task(s), "
                        "which go back to the queue", grace_seconds)
        else:
            log.info("shutdown: running tasks finished after %.1fs", waited)

    def _wake_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def stop(self, grace_seconds: float) -> None:
        """Finish running tasks within the grace period, release the rest, stop everything."""
        for worker in self.workers:
            worker.stopping.set()
        self.stop_event.set()
        self.svc.task_available.set()
        self._wake_dispatcher()
        running = self._running_tasks()
        if running:  # say so: a quiet pause of up to the grace period looks like a hang
            log.warning("shutdown: waiting up to %gs for %d running task(s) "
                        "(FLUXHOST_SHUTDOWN_GRACE_SECONDS)", grace_seconds, running)
        started = time.monotonic()
        deadline = started + grace_seconds
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if running:
            self._log_waited(time.monotonic() - started, grace_seconds)
        for worker in self.workers:
            worker.abort.set()  # running tasks stop at the next step and are released
        for thread in self.threads:
            thread.join(10.0)
        self._unregister()
        alive = [t.name for t in self.threads if t.is_alive()]
        if alive:
            log.warning("threads still running at shutdown", extra={"threads": alive})
        else:
            log.info("runtime stopped cleanly")
