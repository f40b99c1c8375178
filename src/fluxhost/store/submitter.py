"""Group commit for submissions: concurrent submits are written by one thread, many per
transaction. Each caller's future resolves only after the transaction holding its row has
committed, so an answered submission is always durable; under load the cost of a transaction
is shared by the whole batch instead of paid per request."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from fluxhost.store.store import Store
from fluxhost.store.tasks import (
    ACTIVE_COUNT,
    INSERT_TASK,
    LOCK_KEY,
    TooManyActiveTasks,
    task_row,
)

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

    def submit(self, *, active_limit: int, **fields: Any) -> Future[str]:
        """Queue a task (fields as for `tasks.task_row`); the future gives its id."""
        self._ensure_started()
        future: Future[str] = Future()
        self._queue.put(_Item(task_row(self.store, **fields), active_limit, future))
        return future

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
        accepted: list[_Item] = []
        refused: list[tuple[_Item, Exception]] = []
        try:
            with self.store.write_core() as conn:
                active: dict[int, int] = {}
                for item in batch:
                    key_id = item.row["key_id"]
                    if key_id is not None:
                        if key_id not in active:
                            if self.store.is_postgres:
                                conn.execute(LOCK_KEY, {"key_id": key_id})
                            counted = conn.execute(
                                ACTIVE_COUNT, {"key_id": key_id, "limit": item.active_limit}
                            ).scalar()
                            active[key_id] = int(counted or 0)
                        if active[key_id] >= item.active_limit:
                            refused.append(
                                (item, TooManyActiveTasks(active[key_id], item.active_limit))
                            )
                            continue
                        active[key_id] += 1
                    accepted.append(item)
                if accepted:
                    conn.execute(INSERT_TASK, [item.row for item in accepted])
        except Exception as exc:
            log.exception("submission batch failed", extra={"batch": len(batch)})
            for item in batch:
                item.future.set_exception(exc)
            return
        for item in accepted:
            item.future.set_result(str(item.row["id"]))
        for item, error in refused:
            item.future.set_exception(error)
