"""Queued tasks that no live worker can run end `Error` after UNSERVED_TASK_TIMEOUT_SECONDS,
instead of waiting (and holding their key's active-task slots) for ever.

A kind counts as unserved from the moment this process first sees it with no live worker in the
registry (store/workers.py), and the clock restarts whenever one appears, so a rolling restart
or a worker that is slow to start expires nothing; only tasks that also waited the whole period
are ended. The clock is in memory: a restart of this process makes expiry later, never earlier.
Every process runs the watch; the conditional end (store.queue.expire_queued) makes two
processes watching the same fleet harmless."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from fluxhost.services import Services
from fluxhost.store import workers as registry
from fluxhost.store.queue import expire_queued
from fluxhost.store.store import Store

log = logging.getLogger(__name__)

CHECK_SECONDS = 10.0


def reason(kind: str, waited: float) -> str:
    return (f"no worker serves this task's kind '{kind}': it waited {waited:g} s with no live "
            "worker for it (UNSERVED_TASK_TIMEOUT_SECONDS)")


class UnservedWatch:
    def __init__(self, store: Store, timeout: float, retention_seconds: float,
                 clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.timeout = timeout
        self.retention_seconds = retention_seconds
        self.clock = clock or store.now
        self.unserved_since: dict[str, float] = {}

    @classmethod
    def of(cls, svc: Services) -> UnservedWatch:
        return cls(svc.store, svc.settings.unserved_task_timeout_seconds,
                   svc.settings.result_retention_seconds)

    def check(self) -> list[str]:
        """One pass: the ids of the tasks it ended."""
        store = self.store
        live = registry.live_workers_by_kind(store)
        queued = registry.queued_by_kind(store)
        now = self.clock()
        for kind in list(self.unserved_since):
            if live.get(kind):
                del self.unserved_since[kind]
        ended: list[str] = []
        for kind in queued:
            if live.get(kind):
                continue
            since = self.unserved_since.setdefault(kind, now)
            if now - since < self.timeout:
                continue
            ids = expire_queued(store, kind, store.now() - self.timeout,
                                reason(kind, self.timeout),
                                retention_seconds=self.retention_seconds)
            if ids:
                log.warning("ended %d queued task(s) of kind %s: no live worker serves it",
                            len(ids), kind, extra={"kind": kind, "tasks": len(ids)})
            ended += ids
        return ended

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.wait(min(CHECK_SECONDS, self.timeout / 2)):
            try:
                self.check()
            except Exception as exc:  # the database away: the next pass tries again
                log.warning("unserved-task check failed: %s", type(exc).__name__)
