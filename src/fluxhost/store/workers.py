"""The worker registry: which worker processes are alive and which task kinds they serve.

A process registers when its workers start, refreshes `last_seen` periodically and deletes its
row on a clean stop; a killed one stops refreshing and ages out of `live_workers_by_kind`. With
it, a queued task that no live worker can run is visible (`unserved_queued_by_kind`) instead of
waiting silently."""

from __future__ import annotations

import os
import socket
import uuid
from collections import Counter
from collections.abc import Collection

from sqlalchemy import delete, func, select, update

from fluxhost.store.models import Task, WorkerProcess
from fluxhost.store.store import Store

# A process refreshes its row this often; a row older than a few periods is a dead process.
DEFAULT_LIVE_WITHIN_SECONDS = 30.0


def register(store: Store, kinds: Collection[str], *, worker_id: str | None = None) -> str:
    """Record this process as serving `kinds`; returns its registry id."""
    now = store.now()
    worker_id = worker_id or f"{socket.gethostname()[:60]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with store.write() as s:
        s.add(WorkerProcess(id=worker_id, host=socket.gethostname()[:255], pid=os.getpid(),
                            kinds=",".join(sorted(kinds)), started_at=now, last_seen=now))
    return worker_id


def touch(store: Store, worker_id: str) -> bool:
    """Refresh `last_seen`; False when the row is gone (re-register then)."""
    with store.write() as s:
        res = s.execute(update(WorkerProcess).where(WorkerProcess.id == worker_id)
                        .values(last_seen=store.now()))
        return bool(res.rowcount)  # type: ignore[attr-defined]


def unregister(store: Store, worker_id: str) -> None:
    with store.write() as s:
        s.execute(delete(WorkerProcess).where(WorkerProcess.id == worker_id))


def live_workers_by_kind(
    store: Store, within_seconds: float = DEFAULT_LIVE_WITHIN_SECONDS
) -> dict[str, int]:
    """Kind -> number of worker processes seen within `within_seconds` that serve it."""
    since = store.now() - within_seconds
    with store.read() as s:
        rows = s.scalars(select(WorkerProcess.kinds).where(WorkerProcess.last_seen >= since))
        counts: Counter[str] = Counter(k for kinds in rows for k in kinds.split(",") if k)
    return dict(counts)


def queued_by_kind(store: Store) -> dict[str, int]:
    with store.read() as s:
        rows = s.execute(select(Task.kind, func.count()).where(Task.state == "queued")
                         .group_by(Task.kind)).all()
    return {str(kind): int(n) for kind, n in rows}


def unserved_queued_by_kind(
    store: Store, within_seconds: float = DEFAULT_LIVE_WITHIN_SECONDS
) -> dict[str, int]:
    """Kind -> queued tasks of a kind that no live worker process serves (they wait until one
    that serves it starts). Empty when every queued task has a worker."""
    live = live_workers_by_kind(store, within_seconds)
    return {kind: n for kind, n in queued_by_kind(store).items() if not live.get(kind)}
