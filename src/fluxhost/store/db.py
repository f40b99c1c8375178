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
# Execution option of a bounded write: how long (ms) it may wait for the database's write lock
# (SQLite busy_timeout) or a row lock (PostgreSQL lock_timeout). See `Store.write(wait=...)`.
LOCK_TIMEOUT_OPTION = "fluxhost_lock_timeout_ms"
# Unbounded writes (workers' claims, heartbeats, finishing; CLI commands) run in threads and
# may wait long for another process's transaction.
WRITE_BUSY_TIMEOUT_MS = 30000
# Readers in WAL mode never wait behind a writer; only SQLite's own brief internal locks
# (WAL-index recovery, the last connection's checkpoint) can make them wait, and no longer
# than this, since many of them run on the event loop.
READ_BUSY_TIMEOUT_MS = 500
SQLITE_BUSY = 5
PG_LOCK_NOT_AVAILABLE = "55P03"
_BUSY_KEY = "fluxhost_busy_timeout_ms"
# libpq waits for a server that does not answer (a host gone from the network) without end;
# bounded, the request or worker round fails as "database unreachable" instead of hanging.
# A `connect_timeout` in the URL wins.
PG_CONNECT_TIMEOUT_SECONDS = 5


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
    connect_args = ({} if "connect_timeout=" in url
                    else {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS})
    engine = create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True,
                           connect_args=connect_args)
    event.listen(engine, "begin", _postgres_begin)
    return engine


def _sqlite_on_connect(dbapi_conn: Any, record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a process crash; only an OS crash can lose the last
    # transactions. That is the trade every embedded job queue makes for ~1 ms commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={WRITE_BUSY_TIMEOUT_MS}")
    cur.close()
    record.info[_BUSY_KEY] = WRITE_BUSY_TIMEOUT_MS


def _sqlite_begin_immediate(conn: Any) -> None:
    # pysqlite's own deferred BEGIN lets two writers both read then fail on lock upgrade;
    # taking the write lock up front serializes them cleanly (busy_timeout waits). Readers
    # (polls) keep a deferred BEGIN so WAL lets them run beside a writer.
    options = conn.get_execution_options()
    readonly = options.get(READONLY_OPTION)
    default = READ_BUSY_TIMEOUT_MS if readonly else WRITE_BUSY_TIMEOUT_MS
    _set_busy_timeout(conn, int(options.get(LOCK_TIMEOUT_OPTION, default)))
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _set_busy_timeout(conn: Any, ms: int) -> None:
    """SQLite's busy timeout is per connection and pooled connections serve every caller, so
    each transaction sets the one it needs; the value is remembered so that a switch costs one
    PRAGMA and no switch costs nothing. Sent on the DBAPI connection: through SQLAlchemy it
    would open a transaction of its own."""
    pooled = conn.connection
    if pooled.info.get(_BUSY_KEY) != ms:
        pooled.dbapi_connection.execute(f"PRAGMA busy_timeout={ms}")
        pooled.info[_BUSY_KEY] = ms


def _postgres_begin(conn: Any) -> None:
    # Only bounded writes carry the option: their row-lock waits end at the bound
    # (lock_timeout 0 would mean no bound at all, hence at least 1 ms).
    ms = conn.get_execution_options().get(LOCK_TIMEOUT_OPTION)
    if ms is not None:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(ms))}")


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether a database error means "the lock was not free within the bound": SQLITE_BUSY
    (any extended code) or PostgreSQL's lock_not_available."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == SQLITE_BUSY
    return getattr(orig, "sqlstate", None) == PG_LOCK_NOT_AVAILABLE



def migrate(engine: Engine) -> None:
    """Bring the schema to head. Safe to call from many processes at once."""
    from fluxhost.store.schema import current_revision, schema_head

    # Every start (and every process of a fleet) lands here with the schema already at head:
    # one SELECT answers that, where alembic's upgrade loads its environment and every
    # revision script first (~10 ms, ~50 ms on a loaded machine), after alembic's own import
    # (~0.3 CPU-s). Anything else, the empty database included, takes the full path, under
    # the advisory lock on PostgreSQL.
    if current_revision(engine) == schema_head():
        return
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
