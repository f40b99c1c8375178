"""Engine creation and migrations. SQLite runs in WAL mode with `BEGIN IMMEDIATE` transactions,
so a read-then-write (claiming a task) never interleaves with another writer; PostgreSQL uses
row locks (`FOR UPDATE SKIP LOCKED`) instead."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
READONLY_OPTION = "fluxhost_readonly"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=20,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a process crash; only an OS crash can lose the last
    # transactions. That is the trade every embedded job queue makes for ~1 ms commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # pysqlite's own deferred BEGIN lets two writers both read then fail on lock upgrade;
    # taking the write lock up front serializes them cleanly (busy_timeout waits). Readers
    # (polls) keep a deferred BEGIN so WAL lets them run beside a writer.
    readonly = conn.get_execution_options().get(READONLY_OPTION)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")



def migrate(engine: Engine) -> None:
    """Bring the schema to head. Safe to call from many processes at once."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # One migrator at a time across the fleet; the others wait, then find head.
            conn.execute(text("SELECT pg_advisory_lock(727274)"))
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        finally:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(727274)"))
                conn.commit()
