"""Group commit for submissions: concurrent submits are written many per transaction. Each
caller's future resolves only after the transaction holding its row has committed, so an
answered submission is always durable; under load the cost of a transaction is shared by the
whole batch instead of paid per request.

On SQLite the batch is committed on the event loop itself, once per loop turn: a local commit
takes a fraction of a millisecond, less than handing rows to a thread and back. But the loop
must never wait on a lock, so that commit only *tries*: it takes the in-process write lock
without blocking and runs with busy_timeout 0. When the lock is taken (a worker thread is
writing, or another process holds the database: a CLI command, a second server, a backup) the
batch goes to the writer thread, which waits for it up to each submission's deadline
(`timeout` after it arrived); a submission still unwritten then fails with `WriteBusy` (the
API's 503), with nothing written. On PostgreSQL (network round trips) the writer thread commits
every batch, so the loop never waits on the network, with the same bound on row-lock waits.

One row that fails its insert (a value over a column bound, say) fails its whole transaction;
the writer thread then splits the batch in halves, recursively, so that only that row's
submitter gets the error (`SubmissionRejected`) and every other row commits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

from fluxhost.store.outage import is_unreachable
from fluxhost.store.store import Store, WriteBusy
from fluxhost.store.tasks import insert_tasks, may_be_one_rows_fault, rejection, task_row

log = logging.getLogger(__name__)

# The writer thread's pause when the lock was refused before any deadline passed (SQLite can
# answer busy without waiting, e.g. during WAL recovery): a retry, not a spin.
_RETRY_PAUSE = 0.01


@dataclass
class _Item:
    row: dict[str, Any]
    active_limit: int
    future: Future[str]
    deadline: float  # time.monotonic() past which it fails with WriteBusy


class TaskSubmitter:
    def __init__(self, store: Store, max_batch: int = 256, timeout: float = 5.0) -> None:
        self.store = store
        self.max_batch = max_batch
        self.timeout = timeout
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._pending: list[_Item] = []

    async def submit(self, *, active_limit: int, **fields: Any) -> str:
        """Write a task (fields as for `tasks.task_row`) and return its id once committed.
        Raises `TooManyActiveTasks`, `SubmissionRejected` (the database refused this row),
        or `WriteBusy` (not committed within `timeout`); in each case nothing was written."""
        row = task_row(self.store, **fields)
        item = _Item(row, active_limit, Future(), time.monotonic() + self.timeout)
        if self.store.is_sqlite:
            self._pending.append(item)
            if len(self._pending) == 1:
                asyncio.get_running_loop().call_soon(self._flush_pending)
        else:
            self._hand_off([item])
        return await asyncio.wrap_future(item.future)

    def _flush_pending(self) -> None:
        batch, self._pending = self._pending, []
        # wait=0 and no splitting: the loop only ever runs the one fast transaction; a busy
        # lock or a failed batch goes to the writer thread.
        rest = self._commit(batch, wait=0.0, split=False)
        if rest:
            self._hand_off(rest)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None

    def _hand_off(self, items: list[_Item]) -> None:
        self._ensure_started()
        for item in items:
            self._queue.put(item)

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="fluxhost-submitter", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._commit_by_deadline(batch)
                    return
                batch.append(item)
            self._commit_by_deadline(batch)

    def _commit_by_deadline(self, batch: list[_Item]) -> None:
        """Writer thread: commit, waiting for the lock up to the earliest deadline; fail the
        items whose deadline has passed, retry the others."""
        while batch:
            start = time.monotonic()
            wait = max(0.0, min(i.deadline for i in batch) - start)
            busy = self._commit(batch, wait=wait, split=True)
            now = time.monotonic()
            for item in busy:
                if item.deadline <= now:
                    _fail(item, WriteBusy(self.timeout))
            batch = [i for i in busy if i.deadline > now]
            if batch and now - start < wait:
                time.sleep(_RETRY_PAUSE)

    def _commit(self, batch: list[_Item], *, wait: float, split: bool) -> list[_Item]:
        """Commit the batch in one transaction and resolve each item's future (its id, or why
        it was refused); return, unresolved, the items that did not get the write lock within
        `wait`, and, unless `split`, those of a failed batch that splitting may save (nothing
        of theirs was written)."""
        try:
            with self.store.write_core(wait=wait) as conn:
                outcomes = insert_tasks(
                    conn, self.store.is_postgres, [(i.row, i.active_limit) for i in batch]
                )
        except WriteBusy:
            return batch
        except Exception as exc:
            return self._isolate(batch, exc, wait=wait, split=split)
        for item, refused in zip(batch, outcomes, strict=True):
            if refused is None:
                _succeed(item, str(item.row["id"]))
            else:
                _fail(item, refused)
        return []

    def _isolate(
        self, batch: list[_Item], exc: Exception, *, wait: float, split: bool
    ) -> list[_Item]:
        """The batch's transaction failed. One bad row fails everybody's transaction, so
        split the batch until the row at fault is alone: only its submitter sees the error.
        (Bisection: one bad row in n costs about 2·log2(n) transactions, not n; many bad rows
        cost up to 2n, which is why it runs in the writer thread, never on the loop.)"""
        if len(batch) > 1 and may_be_one_rows_fault(exc):
            if not split:
                return batch
            mid = len(batch) // 2
            return (self._commit(batch[:mid], wait=wait, split=True)
                    + self._commit(batch[mid:], wait=wait, split=True))
        refused = rejection(exc) if len(batch) == 1 else None
        if refused is not None:
            log.warning("submission refused by the database: %s", refused.reason,
                        extra={"task_id": batch[0].row["id"]})
            _fail(batch[0], refused)
            return []
        if not is_unreachable(exc):  # an outage is the store's one line, not a traceback
            log.error("submission batch failed", exc_info=exc, extra={"batch": len(batch)})
        for item in batch:
            _fail(item, exc)
        return []


def _succeed(item: _Item, task_id: str) -> None:
    # The awaiting request may have been cancelled (its client went away): its future is then
    # cancelled too, and the rest of the batch must still be answered.
    with contextlib.suppress(InvalidStateError):
        item.future.set_result(task_id)


def _fail(item: _Item, exc: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):
        item.future.set_exception(exc)
