"""Group commit under failure: a bad row fails only its own submission, and a write lock held
elsewhere (another process, a worker thread waiting on one) never blocks the event loop;
a submission that cannot commit within its bound fails with `WriteBusy`, nothing written."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from fluxhost.store import ApiKey, Store, Task
from fluxhost.store import submitter as submitter_module
from fluxhost.store.finetunes import create_finetune, delete_finetune, submit_training
from fluxhost.store.keys import create_key
from fluxhost.store.store import WriteBusy
from fluxhost.store.submitter import TaskSubmitter
from fluxhost.store.tasks import SubmissionRejected, get_task, submit_task, task_row

GOOD_ROWS = 10


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'q.db'}")
    yield s
    s.dispose()


def fields(key_id: int, **kw: Any) -> dict[str, Any]:
    return {"key_id": key_id, "endpoint": "flux-pro-finetuned", "params": {"prompt": "p"},
            "base_url": "http://x", "webhook_url": None, "webhook_secret": None, **kw}


def active(store: Store, key_id: int) -> int:
    with store.read() as s:
        return int(s.scalar(select(ApiKey.active_tasks).where(ApiKey.id == key_id)) or 0)


def task_count(store: Store, key_id: int) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).where(Task.key_id == key_id)) or 0)


# --- a bad row in a batch ------------------------------------------------------------------

def _duplicate_id(store: Store, key_id: int) -> dict[str, Any]:
    taken = submit_task(store, active_limit=100, **fields(key_id))
    return {"task_id": taken}


BAD_ROWS: dict[str, tuple[Callable[[Store, int], dict[str, Any]], bool]] = {
    # name: (the bad fields, whether SQLite refuses it too: it enforces no lengths, takes NULs)
    "duplicate id": (_duplicate_id, True),
    "params that are not JSON": (lambda s, k: {"params": {"prompt": object()}}, True),
    "base_url over 500 chars": (lambda s, k: {"base_url": "http://x/" + "a" * 600}, False),
    "NUL in a string column": (lambda s, k: {"webhook_secret": "a\x00b"}, False),
}


@pytest.mark.parametrize("bad", list(BAD_ROWS))
def test_a_bad_row_fails_only_its_own_submission(store: Store, bad: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_bad, sqlite_refuses = BAD_ROWS[bad]
    if store.is_sqlite and not sqlite_refuses:
        pytest.skip("SQLite stores this value")
    bad_key = create_key(store, "bad")[0].id
    good_key = create_key(store, "good")[0].id
    bad_fields = fields(bad_key, **make_bad(store, bad_key))
    before = active(store, bad_key)

    batches: list[int] = []
    real_insert = submitter_module.insert_tasks

    def counting_insert(conn: Any, is_postgres: bool, batch: list[Any]) -> Any:
        batches.append(len(batch))
        return real_insert(conn, is_postgres, batch)

    monkeypatch.setattr(submitter_module, "insert_tasks", counting_insert)
    results = asyncio.run(_submit_as_one_batch(store, bad_fields,
                                               [fields(good_key)] * GOOD_ROWS))

    assert GOOD_ROWS + 1 in batches, f"the rows were never batched together: {batches}"
    assert isinstance(results[0], SubmissionRejected), results[0]
    assert all(isinstance(r, str) for r in results[1:]), results[1:]
    assert all(get_task(store, r) is not None for r in results[1:])
    assert task_count(store, good_key) == GOOD_ROWS and active(store, good_key) == GOOD_ROWS
    assert active(store, bad_key) == before  # the refused row left its key's counter alone


async def _submit_as_one_batch(store: Store, first: dict[str, Any],
                               rest: list[dict[str, Any]]) -> list[Any]:
    """Submit all rows so that the submitter takes them as one batch. SQLite: one loop turn.
    PostgreSQL: the writer thread is held on a row lock (a gate submission) while the rows
    queue up behind it, so it drains them together."""
    submitter = TaskSubmitter(store)
    try:
        if store.is_sqlite:
            return await _gather(submitter, [first, *rest])
        gate_key = create_key(store, "gate")[0].id
        with psycopg.connect(_pg_dsn(store)) as lock_conn:
            lock_conn.execute("SELECT 1 FROM api_keys WHERE id = %s FOR UPDATE", (gate_key,))
            gate = asyncio.ensure_future(_gather(submitter, [fields(gate_key)]))
            await asyncio.sleep(0.3)  # the writer thread now waits on the row lock
            rows = asyncio.ensure_future(_gather(submitter, [first, *rest]))
            await asyncio.sleep(0.3)  # ... and the rows wait in its queue
            lock_conn.commit()
        assert isinstance((await gate)[0], str)
        return await rows
    finally:
        submitter.close()


async def _gather(submitter: TaskSubmitter, rows: list[dict[str, Any]]) -> list[Any]:
    return list(await asyncio.gather(
        *(submitter.submit(active_limit=100, **row) for row in rows), return_exceptions=True))


def _pg_dsn(store: Store) -> str:
    return store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def test_training_rows_the_database_refuses_are_submission_rejected(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite stores any length")
    key = create_key(store, "k")[0].id
    task = task_row(store, task_id="f" * 36, **fields(key))
    with pytest.raises(SubmissionRejected):
        submit_training(store, finetune_id="f" * 36, owner_key_id=key, comment="c",
                        trigger_word="T" * 201, details={}, task=task, active_limit=5)
    assert task_count(store, key) == 0 and active(store, key) == 0


# --- a write lock held elsewhere -------------------------------------------------------------

class LockHolder:
    """Another process holding the database's write lock (BEGIN IMMEDIATE) for `seconds`, as
    `fluxhost keys create`, a second server or a backup can."""

    def __init__(self, db: Path, seconds: float) -> None:
        code = ("import sqlite3, sys, time\n"
                f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\n"
                "print('held', flush=True)\n"
                f"time.sleep({seconds})\n"
                "c.execute('COMMIT')\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "held"

    def wait(self) -> None:
        assert self.proc.wait(30) == 0


def _db_path(store: Store) -> Path:
    return Path(str(store.engine.url.database))


def test_bounded_writes_give_up_at_their_bound(sqlite_store: Store) -> None:
    key = create_key(sqlite_store, "k")[0].id
    holder = LockHolder(_db_path(sqlite_store), 3)
    try:
        t0 = time.monotonic()
        with pytest.raises(WriteBusy), sqlite_store.write_core(wait=0):
            pass
        assert time.monotonic() - t0 < 0.5  # wait=0: not at all

        t0 = time.monotonic()
        with pytest.raises(WriteBusy):
            submit_task(sqlite_store, active_limit=5, wait=0.4, **fields(key))
        assert 0.3 < time.monotonic() - t0 < 1.5

        t0 = time.monotonic()
        assert sqlite_store.ping() and get_task(sqlite_store, "nope") is None
        assert time.monotonic() - t0 < 0.5  # reads never wait behind the writer
    finally:
        holder.wait()
    assert task_count(sqlite_store, key) == 0 and active(sqlite_store, key) == 0
    submit_task(sqlite_store, active_limit=5, wait=0, **fields(key))  # free again


def test_finetune_writes_are_bounded(sqlite_store: Store) -> None:
    key = create_key(sqlite_store, "k")[0].id
    ft = create_finetune(sqlite_store, owner_key_id=key, comment="c", trigger_word="T",
                         details={}, lora_blob=None)
    task = task_row(sqlite_store, task_id="t" * 36, **fields(key))
    holder = LockHolder(_db_path(sqlite_store), 2)
    try:
        t0 = time.monotonic()
        with pytest.raises(WriteBusy):
            submit_training(sqlite_store, finetune_id="t" * 36, owner_key_id=key, comment="c",
                            trigger_word="T", details={}, task=task, active_limit=5, wait=0.3)
        with pytest.raises(WriteBusy):
            delete_finetune(sqlite_store, ft.id, key, wait=0.3)
        assert time.monotonic() - t0 < 1.8
    finally:
        holder.wait()
    assert delete_finetune(sqlite_store, ft.id, key, wait=1)
    assert task_count(sqlite_store, key) == 0


def test_the_event_loop_never_waits_on_the_write_lock(sqlite_store: Store) -> None:
    """The lock is held by another process; a worker thread of ours waits on it (an unbounded
    write, holding our in-process lock). Submissions on the loop neither block it nor hang:
    one with a short bound fails with WriteBusy, one whose bound outlasts the lock commits."""
    key = create_key(sqlite_store, "k")[0].id
    holder = LockHolder(_db_path(sqlite_store), 1.5)
    worker_done = threading.Event()

    def worker_write() -> None:
        with sqlite_store.write() as s:
            s.add(ApiKey(name="w", key_hash="h" * 64, prefix="fh_", created_at=0.0))
        worker_done.set()

    worker = threading.Thread(target=worker_write)
    worker.start()
    time.sleep(0.1)  # the worker now holds the in-process lock, waiting on SQLite

    async def scenario() -> tuple[float, Any, Any]:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        tick = asyncio.ensure_future(ticker())
        short, long = TaskSubmitter(sqlite_store, timeout=0.4), TaskSubmitter(sqlite_store)
        try:
            results = await asyncio.gather(short.submit(active_limit=5, **fields(key)),
                                           long.submit(active_limit=5, **fields(key)),
                                           return_exceptions=True)
        finally:
            stop.set()
            await tick
            short.close()
            long.close()
        return max(gaps), results[0], results[1]

    try:
        max_gap, short_result, long_result = asyncio.run(scenario())
    finally:
        holder.wait()
        worker.join(30)
    assert max_gap < 0.5, f"the event loop stalled for {max_gap:.3f} s"
    assert isinstance(short_result, WriteBusy), short_result
    assert isinstance(long_result, str) and get_task(sqlite_store, long_result) is not None
    assert worker_done.is_set()
    assert task_count(sqlite_store, key) == 1 and active(sqlite_store, key) == 1


@pytest.mark.service
def test_postgres_submissions_are_bounded_by_row_locks(pg_url: str) -> None:
    store = Store.open(pg_url)
    try:
        key = create_key(store, "k")[0].id
        submitter = TaskSubmitter(store, timeout=0.4)
        with psycopg.connect(_pg_dsn(store)) as lock_conn:
            lock_conn.execute("SELECT 1 FROM api_keys WHERE id = %s FOR UPDATE", (key,))
            t0 = time.monotonic()
            with pytest.raises(WriteBusy):
                asyncio.run(submitter.submit(active_limit=5, **fields(key)))
            assert 0.3 < time.monotonic() - t0 < 2
            lock_conn.rollback()
        assert isinstance(asyncio.run(submitter.submit(active_limit=5, **fields(key))), str)
        submitter.close()
        assert task_count(store, key) == 1 and active(store, key) == 1
    finally:
        store.dispose()
