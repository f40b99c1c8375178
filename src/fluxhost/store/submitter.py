"""Group commit for submissions: concurrent submits are written many per transaction. Each
caller's future resolves only after the transaction holding its row has committed, so an
answered submission is always durable; under load the cost of a transaction is shared by the
whole batch instead of paid per request.

On SQLite the batch is committed on the event loop itself, once per loop turn: a local commit
takes a fraction of a millisecond, less than handing rows to a thread and back. On PostgreSQL
(network round trips) a writer thread commits instead, so the loop never waits on the network."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from fluxhost.store.store import Store
from fluxhost.store.tasks import insert_tasks, task_row

log = logging.getLogger(__name__)


@dataclass
class _Item:
    row: dict[str, Any]
    active_limit: int
    future: Future[str]


class TaskSubmitter:
    def __init__(self, store: Store, max_batch: int = 256) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._pending: list[_Item] = []

    async def submit(self, *, active_limit: int, **fields: Any) -> str:
        """Write a task (fields as for `tasks.task_row`) and return its id once committed."""
        row = task_row(self.store, **fields)
        future: Future[str] = Future()
        if self.store.is_sqlite:
            loop = asyncio.get_running_loop()
            self._pending.append(_Item(row, active_limit, future))
            if len(self._pending) == 1:
                loop.call_soon(self._flush_pending)
        else:
            self._ensure_started()
            self._queue.put(_Item(row, active_limit, future))
        return await asyncio.wrap_future(future)

    def _flush_pending(self) -> None:
        batch, self._pending = self._pending, []
        self._commit(batch)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None

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
                    self._commit(batch)
                    return
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Item]) -> None:
        try:
            with self.store.write_core() as conn:
                outcomes = insert_tasks(
                    conn, self.store.is_postgres, [(i.row, i.active_limit) for i in batch]
                )
        except Exception as exc:
            log.exception("submission batch failed", extra={"batch": len(batch)})
            for item in batch:
                item.future.set_exception(exc)
            return
        for item, refused in zip(batch, outcomes, strict=True):
            if refused is None:
                item.future.set_result(str(item.row["id"]))
            else:
                item.future.set_exception(refused)
