"""The `Store`: one engine, a write session factory and a read session factory."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from fluxhost.store.db import (
    LOCK_TIMEOUT_OPTION,
    READONLY_OPTION,
    is_lock_timeout,
    is_sqlite,
    make_engine,
    migrate,
)
from fluxhost.store.outage import watch


class WriteBusy(Exception):
    """A bounded write did not get the database's write lock (SQLite: held by another process
    or thread; PostgreSQL: a row lock) within its bound. Nothing was written: safe to retry."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the database's write lock was not free within {wait:g} s")
        self.wait = wait


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # One report per database outage, whoever meets it (store/outage.py).
        self.outage = watch(engine)
        # Sessions join the transaction `write_core` opens (which carries the lock bound).
        self._writer = sessionmaker(expire_on_commit=False, join_transaction_mode="rollback_only")
        # SQLite only: see `write`. PostgreSQL writers lock rows, not the database.
        self._thread_lock: threading.Lock | None = (
            threading.Lock() if is_sqlite(engine) else None
        )
        # The event loop's try-only commit (`wait=0`) runs per loop turn: its options are set
        # once here rather than on every connection.
        self._nowait_engine = engine.execution_options(**{LOCK_TIMEOUT_OPTION: 0})
        self._reader = sessionmaker(
            engine.execution_options(**{READONLY_OPTION: True}), expire_on_commit=False
        )

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> Store:
        store = cls(make_engine(url))
        if migrate_schema:
            migrate(store.engine)
        return store

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def write(self, *, wait: float | None = None) -> Iterator[Session]:
        """A transaction that will write: committed on exit, rolled back on error.

        `wait=None` waits for the write lock as long as the connection's busy timeout (30 s):
        for threads that may block. A number of seconds bounds the whole wait, in-process lock
        and database lock alike, and raises `WriteBusy` past it (0: do not wait at all), so a
        caller on the event loop never blocks and a request never hangs on another process."""
        with (
            self.write_core(wait=wait) as conn,
            self._writer(bind=conn) as session,
            session.begin(),  # flushes the ORM's changes into the connection's transaction
        ):
            yield session

    @contextmanager
    def write_core(self, *, wait: float | None = None) -> Iterator[Connection]:
        """Like `write`, as a Core connection: for hot paths that need no ORM objects."""
        # SQLite has one writer at a time; threads of one process queue on this lock instead of
        # in SQLite's busy handler, which sleeps in millisecond steps (other processes still
        # wait there: a CLI command, a second server, a backup).
        with self._locked(wait) as lock_ms:
            try:
                engine = self._nowait_engine if lock_ms == 0 else self.engine
                with engine.connect() as conn:
                    if lock_ms:
                        conn.execution_options(**{LOCK_TIMEOUT_OPTION: lock_ms})
                    with conn.begin():
                        yield conn
            except OperationalError as exc:
                if wait is not None and is_lock_timeout(exc):
                    raise WriteBusy(wait) from exc
                raise
            except PoolTimeout as exc:
                self.outage.failed(exc)  # no DBAPI error, so the engine's hook never sees it
                raise

    @contextmanager
    def _locked(self, wait: float | None) -> Iterator[int | None]:
        """Hold the in-process write lock (SQLite) for a transaction; yield what is left of
        `wait` for the database's own lock wait, in ms (None: unbounded)."""
        lock = self._thread_lock
        if wait is None:
            with lock if lock is not None else contextlib.nullcontext():
                yield None
            return
        start = time.monotonic()
        # A worker thread may hold this lock while it waits out another process's transaction:
        # never wait on it longer than the caller's bound (on the event loop: not at all).
        if lock is not None and not (
            lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)
        ):
            raise WriteBusy(wait)
        try:
            yield int(max(0.0, wait - (time.monotonic() - start)) * 1000)
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        try:
            with self._reader() as session, session.begin():
                yield session
        except PoolTimeout as exc:
            self.outage.failed(exc)
            raise

    def ping(self) -> bool:
        try:
            with self.read() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()

    @staticmethod
    def now() -> float:
        return time.time()
