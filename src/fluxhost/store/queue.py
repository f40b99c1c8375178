"""The worker side of the queue: claim with a lease, heartbeat, finish, release.

Every write after the claim is fenced on (id, lease_owner, state='running'), so a worker that
lost its lease (it stalled, another claimed the task) can never overwrite the new owner's work."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fluxhost.kinds import TRAINING_ENDPOINT
from fluxhost.store.models import ApiKey, Finetune, Task, WebhookDelivery
from fluxhost.store.store import Store
from fluxhost.store.tasks import notify_queued
from fluxhost.store.usage import record as record_usage

TERMINAL_STATUSES = ("Ready", "Error", "Request Moderated", "Content Moderated")


@dataclass(frozen=True)
class Outcome:
    status: str  # one of TERMINAL_STATUSES
    result: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    blob_key: str | None = None
    # For a training task: fields of its finetune row to set in the same transaction.
    finetune: dict[str, Any] | None = None


@dataclass(frozen=True)
class Affinity:
    """Adapter affinity of a claim, with a starvation bound.

    The claim looks at the oldest `window` queued tasks it may run and takes the oldest whose
    finetune is resident in the worker's LoRA cache (no adapter load), else the oldest. The
    oldest is never passed over once it has waited `max_wait_seconds`: a task is skipped only
    while it is younger than that, so affinity delays no task by more than `max_wait_seconds`
    (plus the run time of the tasks taken in its place). `window` 1 turns affinity off."""

    window: int = 16
    max_wait_seconds: float = 10.0


NO_AFFINITY = Affinity(window=1)


@dataclass(frozen=True)
class Candidate:
    id: str
    finetune_id: str | None
    created_at: float


def choose(candidates: Sequence[Candidate], resident: Collection[str], now: float,
           rule: Affinity) -> Candidate:
    """The candidate to claim (oldest first in `candidates`, which is not empty)."""
    oldest = candidates[0]
    if not resident or now - oldest.created_at >= rule.max_wait_seconds:
        return oldest
    warm = (c for c in candidates[: rule.window] if c.finetune_id in resident)
    return next(warm, oldest)


def claim(
    store: Store,
    owner: str,
    *,
    lease_seconds: float,
    max_attempts: int,
    retention_seconds: float,
    kinds: Collection[str] | None = None,
    resident: Collection[str] = (),
    affinity: Affinity = NO_AFFINITY,
) -> Task | None:
    """Take a queued task of one of `kinds` (None: any), after recovering tasks whose worker
    died: the oldest, or by `affinity` one whose finetune is in `resident`."""
    now = store.now()
    with store.write() as s:
        _recover_expired(s, now, max_attempts, retention_seconds)
        window = max(1, affinity.window) if resident else 1
        query = (
            select(Task.id, Task.finetune_id, Task.created_at)
            .where(Task.state == "queued")
            .order_by(Task.created_at)
            .limit(window)
        )
        if kinds is not None:
            query = query.where(Task.kind.in_(sorted(kinds)))
        if store.is_postgres:
            # Locks the window's rows for this short transaction; concurrent claimers skip
            # them and take the next ones.
            query = query.with_for_update(skip_locked=True, of=Task)
        rows = [Candidate(r.id, r.finetune_id, r.created_at) for r in s.execute(query)]
        if not rows:
            return None
        task = s.get(Task, choose(rows, resident, now, affinity).id)
        if task is None:
            return None
        task.state = "running"
        task.lease_owner = owner
        task.lease_expires_at = now + lease_seconds
        task.attempts += 1
        task.started_at = now
        task.progress = 0.0
    return task


def _recover_expired(s: Session, now: float, max_attempts: int, retention_seconds: float) -> None:
    query = select(Task).where(Task.state == "running", Task.lease_expires_at < now).limit(20)
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for task in s.scalars(query):
        if task.attempts >= max_attempts:
            reason = (
                f"worker lost {task.attempts} times (lease expired each time); "
                f"giving up after max_attempts={max_attempts}"
            )
            outcome = Outcome("Error", details={"error": reason})
            _end(s, task, outcome, now, retention_seconds=retention_seconds)
        else:
            task.state = "queued"
            task.lease_owner = None
            task.lease_expires_at = None
            task.progress = None


def heartbeat(
    store: Store, task_id: str, owner: str, *, lease_seconds: float, progress: float | None
) -> bool:
    """Extend the lease and record progress. False when the lease is no longer ours."""
    now = store.now()
    with store.write() as s:
        values: dict[str, Any] = {"lease_expires_at": now + lease_seconds}
        if progress is not None:
            values["progress"] = progress
        res = s.execute(_fenced(task_id, owner).values(**values))
        return bool(res.rowcount)  # type: ignore[attr-defined]


def finish(
    store: Store, task_id: str, owner: str, outcome: Outcome, *, retention_seconds: float,
    engine_seconds: float | None = None,
) -> bool:
    """End the task, enqueue its webhook and add it to its key's usage (with the engine time
    the worker measured) in one transaction. False if the lease was lost."""
    now = store.now()
    with store.write() as s:
        query = select(Task).where(
            Task.id == task_id, Task.lease_owner == owner, Task.state == "running"
        )
        if store.is_postgres:
            query = query.with_for_update()
        task = s.scalar(query)
        if task is None:
            return False
        _end(s, task, outcome, now, retention_seconds=retention_seconds,
             engine_seconds=engine_seconds)
        return True


def cancel(
    store: Store, task_id: str, reason: str, *, retention_seconds: float = 7 * 86400
) -> bool:
    """End a queued or running task as Error now. A worker running it loses its lease (every
    write of its is fenced on state='running'), stops at its next heartbeat, drops its work."""
    with store.write() as s:
        return cancel_in(s, task_id, reason, store.now(), retention_seconds=retention_seconds)


def cancel_in(
    s: Session, task_id: str, reason: str, now: float, *, retention_seconds: float = 7 * 86400
) -> bool:
    """`cancel` inside the caller's write transaction."""
    query = select(Task).where(Task.id == task_id, Task.state.in_(("queued", "running")))
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    task = s.scalar(query)
    if task is None:
        return False
    _end(
        s,
        task,
        Outcome("Error", details={"error": reason}),
        now,
        retention_seconds=retention_seconds,
    )
    return True


def release(store: Store, task_id: str, owner: str) -> bool:
    """Give a claimed task back (graceful shutdown) without spending one of its attempts."""
    with store.write() as s:
        res = s.execute(
            _fenced(task_id, owner).values(
                state="queued",
                lease_owner=None,
                lease_expires_at=None,
                progress=None,
                attempts=Task.attempts - 1,
            )
        )
        released = bool(res.rowcount)  # type: ignore[attr-defined]
        if released and store.is_postgres:
            notify_queued(s.connection(), set())  # queued again: wake any idle worker
        return released


def running_count(store: Store, owners: Collection[str]) -> int:
    """How many tasks these lease owners are running (what a shutdown waits for)."""
    if not owners:
        return 0
    with store.read() as s:
        return int(s.execute(select(func.count()).select_from(Task).where(
            Task.state == "running", Task.lease_owner.in_(list(owners)))).scalar_one())


def _fenced(task_id: str, owner: str) -> Any:
    return update(Task).where(
        Task.id == task_id, Task.lease_owner == owner, Task.state == "running"
    )


def _end(
    s: Session,
    task: Task,
    outcome: Outcome,
    now: float,
    *,
    retention_seconds: float,
    engine_seconds: float | None = None,
) -> None:
    task.state = "done"
    task.status = outcome.status
    task.result = outcome.result
    task.details = outcome.details
    task.blob_key = outcome.blob_key
    task.progress = None
    task.lease_owner = None
    task.lease_expires_at = None
    task.finished_at = now
    task.expires_at = now + retention_seconds
    if task.endpoint == TRAINING_ENDPOINT:
        values = {
            "status": "Ready" if outcome.status == "Ready" else "Error",
            **(outcome.finetune or {}),
        }
        s.execute(update(Finetune).where(Finetune.id == task.id).values(**values))
    if task.key_id is not None:
        s.execute(
            update(ApiKey)
            .where(ApiKey.id == task.key_id)
            .values(active_tasks=ApiKey.active_tasks - 1)
        )
    record_usage(s, task, outcome.status, engine_seconds, now)
    if task.webhook_url:
        s.add(
            WebhookDelivery(
                task_id=task.id,
                url=task.webhook_url,
                secret=task.webhook_secret,
                state="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )


def expire_queued(store: Store, kind: str, created_before: float, reason: str, *,
                  retention_seconds: float, limit: int = 100) -> list[str]:
    """End as Error (with `reason`) up to `limit` tasks of `kind` still queued that were
    submitted before `created_before`: webhook, usage and the key's active count as any end.
    Returns their ids."""
    now = store.now()
    with store.write() as s:
        ids = list(s.scalars(
            select(Task.id).where(Task.state == "queued", Task.kind == kind,
                                  Task.created_at < created_before)
            .order_by(Task.created_at).limit(limit)))
        return [task_id for task_id in ids
                if cancel_in(s, task_id, reason, now, retention_seconds=retention_seconds)]
