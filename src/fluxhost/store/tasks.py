"""The client side of the queue: submitting tasks and reading them back."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

# A task's kind is written on its row at submit (the catalog's default for its endpoint, unless
# FLUXHOST_ENDPOINT_KINDS moves it), so that a worker claims only what it can run.
from fluxhost.catalog import task_kind
from fluxhost.kinds import TRAINING_ENDPOINT
from fluxhost.store.models import ApiKey, Task, WebhookDelivery
from fluxhost.store.store import Store, WriteBusy

# params[INPUTS_PARAM] maps an input field to the blob holding its bytes; purged with the task.
INPUTS_PARAM = "_input_blobs"
# PostgreSQL channel of "tasks were queued" (payload: their kinds, comma-separated; empty:
# any kind). Sent in the inserting transaction, so it is delivered only once they committed.
NOTIFY_CHANNEL = "fluxhost_tasks"


class TooManyActiveTasks(Exception):
    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"Too many active tasks: {active} of {limit} allowed for this key")
        self.active = active
        self.limit = limit


class SubmissionRejected(Exception):
    """The database refused this submission's own row (a value over a column bound, a NUL in
    a string on PostgreSQL, a duplicate id, a value that does not serialize): nothing was
    written, and retrying the same request would fail the same way."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the submission was refused by the database: {reason}")
        self.reason = reason


def rejection(exc: Exception) -> SubmissionRejected | None:
    """The `SubmissionRejected` an error of one row's insert amounts to, or None when the
    error is not the row's fault (the database is down, busy, or a bug)."""
    orig: BaseException | None
    if isinstance(exc, IntegrityError | DataError):
        orig = exc.orig
    elif isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        orig = exc.orig  # a bind value failed to convert (e.g. params that are not JSON)
    elif isinstance(exc, TypeError | ValueError):
        orig = exc
    else:
        return None
    orig = orig or exc
    first_line = (str(orig) or type(orig).__name__).splitlines()[0]
    return SubmissionRejected(first_line[:300])


def may_be_one_rows_fault(exc: Exception) -> bool:
    """Whether a failed batch is worth splitting to find the row at fault: not when the
    database itself failed (unreachable, busy, pool exhausted), where every split fails too."""
    return not isinstance(exc, WriteBusy | OperationalError | InterfaceError | PoolTimeout)


def task_row(
    store: Store,
    *,
    task_id: str | None = None,
    key_id: int | None,
    endpoint: str,
    params: dict[str, Any],
    base_url: str,
    webhook_url: str | None,
    webhook_secret: str | None,
    kind: str | None = None,
) -> dict[str, Any]:
    """The column values of a new queued task; `kind` defaults to the endpoint's default one
    (the API passes `Settings.endpoint_kind`, which FLUXHOST_ENDPOINT_KINDS may override)."""
    finetune_id = params.get("finetune_id") if endpoint != TRAINING_ENDPOINT else None
    return {
        "id": task_id or str(uuid.uuid4()),
        "key_id": key_id,
        "endpoint": endpoint,
        "kind": kind or task_kind(endpoint),
        # Only for the claim's adapter affinity: a value that is no id is simply never resident.
        "finetune_id": finetune_id if _fits_id(finetune_id) else None,
        "params": params,
        "base_url": base_url,
        "state": "queued",
        "status": "Pending",
        "attempts": 0,
        "webhook_url": webhook_url,
        "webhook_secret": webhook_secret,
        "created_at": store.now(),
    }


def _fits_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 36


def submit_task(
    store: Store, *, active_limit: int, wait: float | None = None, **fields: Any
) -> str:
    """Insert one queued task and return its id, unless the key already has `active_limit`
    active tasks. (The API batches submissions through `submitter.TaskSubmitter` instead.)
    `wait` bounds the wait for the write lock as in `Store.write`."""
    row = task_row(store, **fields)
    with store.write_core(wait=wait) as conn:
        refused = insert_tasks(conn, store.is_postgres, [(row, active_limit)])[0]
    if refused is not None:
        raise refused
    return str(row["id"])


def insert_tasks(
    conn: Connection, is_postgres: bool, batch: list[tuple[dict[str, Any], int]]
) -> list[TooManyActiveTasks | None]:
    """Insert (row, active limit) pairs in the caller's transaction; for each, None if it was
    inserted or the refusal. Core statements, not the ORM: this is the hot path."""
    outcomes: list[TooManyActiveTasks | None] = []
    accepted: list[dict[str, Any]] = []
    active: dict[int, int] = {}
    added: Counter[int] = Counter()
    for row, limit in batch:
        key_id = row["key_id"]
        if key_id is not None:
            if key_id not in active:
                # FOR UPDATE on PostgreSQL serializes one key's submitters on its counter.
                query = _ACTIVE_FOR_UPDATE if is_postgres else _ACTIVE
                active[key_id] = int(conn.execute(query, {"key_id": key_id}).scalar() or 0)
            if active[key_id] >= limit:
                outcomes.append(TooManyActiveTasks(active[key_id], limit))
                continue
            active[key_id] += 1
            added[key_id] += 1
        accepted.append(row)
        outcomes.append(None)
    for key_id, n in added.items():
        conn.execute(_ADD_ACTIVE, {"key_id": key_id, "n": n})
    if accepted:
        conn.execute(INSERT_TASK, accepted)
        if is_postgres:
            notify_queued(conn, {str(row["kind"]) for row in accepted})
    return outcomes


def notify_queued(conn: Connection, kinds: set[str]) -> None:
    """Wake listening workers (PostgreSQL): queued inside the caller's transaction, so it is
    delivered on commit and never for a rolled-back insert. One per transaction however many
    rows (PostgreSQL also folds identical notifications of a transaction into one)."""
    conn.execute(_NOTIFY, {"channel": NOTIFY_CHANNEL, "payload": ",".join(sorted(kinds))})


# Core statements, built once.
_ACTIVE = select(ApiKey.active_tasks).where(ApiKey.id == bindparam("key_id"))
_ACTIVE_FOR_UPDATE = _ACTIVE.with_for_update()
_ADD_ACTIVE = (
    update(ApiKey)
    .where(ApiKey.id == bindparam("key_id"))
    .values(active_tasks=ApiKey.active_tasks + bindparam("n"))
)
INSERT_TASK = insert(Task.__table__)  # type: ignore[arg-type]
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def get_task(store: Store, task_id: str) -> Task | None:
    """The task, unless it is unknown or past its retention."""
    with store.read() as s:
        task = s.get(Task, task_id)
    if task is None or (task.expires_at is not None and task.expires_at <= store.now()):
        return None
    return task


def count_by_state(store: Store) -> dict[str, int]:
    with store.read() as s:
        rows = s.execute(select(Task.state, func.count()).group_by(Task.state)).all()
    return {state: int(n) for state, n in rows}


def purge_expired(store: Store, retention_seconds: float, limit: int = 500) -> list[str]:
    """Delete finished tasks past retention; return their blob keys for the caller to delete."""
    now = store.now()
    with store.write() as s:
        # Deliveries that ended (delivered or dead) are records only; keep them as long as tasks.
        s.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.state != "pending",
                WebhookDelivery.created_at <= now - retention_seconds,
            )
        )
        rows = s.execute(
            select(Task.id, Task.blob_key, Task.params)
            .where(Task.state == "done", Task.expires_at <= now)
            .limit(limit)
        ).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        s.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.task_id.in_(ids), WebhookDelivery.state != "pending"
            )
        )
        s.execute(delete(Task).where(Task.id.in_(ids)))
    keys = [r.blob_key for r in rows if r.blob_key]
    for r in rows:
        keys.extend((r.params or {}).get(INPUTS_PARAM, {}).values())
    return keys
