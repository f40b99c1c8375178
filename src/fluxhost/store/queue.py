"""The worker side of the queue: claim with a lease, heartbeat, finish, release.

Every write after the claim is fenced on (id, lease_owner, state='running'), so a worker that
lost its lease (it stalled, another claimed the task) can never overwrite the new owner's work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fluxhost.store.models import ApiKey, Finetune, Task, WebhookDelivery
from fluxhost.store.store import Store

TERMINAL_STATUSES = ("Ready", "Error", "Request Moderated", "Content Moderated")


@dataclass(frozen=True)
class Outcome:
    status: str  # one of TERMINAL_STATUSES
    result: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    blob_key: str | None = None
    # For a training task: fields of its finetune row to set in the same transaction.
    finetune: dict[str, Any] | None = None


TRAINING_ENDPOINT = "finetune"


def claim(
    store: Store,
    owner: str,
    *,
    lease_seconds: float,
    max_attempts: int,
    retention_seconds: float,
) -> Task | None:
    """Take the oldest queued task, after recovering tasks whose worker died."""
    now = store.now()
    with store.write() as s:
        _recover_expired(s, now, max_attempts, retention_seconds)
        query = select(Task).where(Task.state == "queued").order_by(Task.created_at).limit(1)
        if store.is_postgres:
            query = query.with_for_update(skip_locked=True)
        task = s.scalar(query)
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
    store: Store, task_id: str, owner: str, outcome: Outcome, *, retention_seconds: float
) -> bool:
    """End the task and enqueue its webhook in one transaction. False if the lease was lost."""
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
        _end(s, task, outcome, now, retention_seconds=retention_seconds)
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
        return bool(res.rowcount)  # type: ignore[attr-defined]


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
