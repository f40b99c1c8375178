"""The `Store`: one engine, a write session factory and a read session factory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from fluxhost.store.db import READONLY_OPTION, is_sqlite, make_engine, migrate


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = sessionmaker(engine, expire_on_commit=False)
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
    def write(self) -> Iterator[Session]:
        """A transaction that will write: committed on exit, rolled back on error."""
        with self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

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
