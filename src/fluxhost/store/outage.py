"""Database outages: which errors mean "the database cannot be reached", and how an outage is
logged: one line when it starts, at most one line every `REPEAT_SECONDS` while it lasts (with
how many operations failed meanwhile), one line when the database answers again. Not a
traceback per failed request, poll or worker round.

`watch(engine)` hooks the engine itself, so every caller (API, workers, webhook dispatcher,
health checks) feeds the same report; the callers only stay quiet about such errors
(`is_unreachable`)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)

REPEAT_SECONDS = 30.0
MAX_REASON_CHARS = 200
# SQLite result codes: the file cannot be opened (directory gone, permissions), the disk failed
# under it, or it was moved or deleted under an open connection.
SQLITE_IOERR = 10
SQLITE_CANTOPEN = 14
SQLITE_READONLY_DBMOVED = 1032
# PostgreSQL SQLSTATEs where the server cannot serve this client at all (as opposed to refusing
# one statement): connection exceptions, refused authorization, no such database, too many
# connections, the server shutting down or starting up.
PG_UNREACHABLE_CLASSES = ("08", "28")
PG_UNREACHABLE_STATES = frozenset({"3D000", "53300", "57P01", "57P02", "57P03"})


def is_unreachable(exc: BaseException) -> bool:
    """Whether an error means the database cannot be reached (or was lost), so that a retry
    later may succeed: a 503, not a 500, and not a bug worth a traceback."""
    if isinstance(exc, PoolTimeout | DisconnectionError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    return exc.connection_invalidated or _driver_unreachable(exc)


def _driver_unreachable(exc: DBAPIError) -> bool:
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (SQLITE_IOERR, SQLITE_CANTOPEN) or code == SQLITE_READONLY_DBMOVED
    if not hasattr(orig, "sqlstate"):  # not psycopg: sqlite3's own checks (bad bind values)
        return False
    state: str | None = getattr(orig, "sqlstate", None)
    if state is None:
        # psycopg's client side: connection refused, timed out, closed, broken.
        return isinstance(exc, OperationalError | InterfaceError)
    return state.startswith(PG_UNREACHABLE_CLASSES) or state in PG_UNREACHABLE_STATES


def short_reason(exc: BaseException) -> str:
    """The driver's first line (never the SQL or its parameters, which SQLAlchemy appends)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    first = lines[0].strip() if lines else ""
    return f"{type(orig).__name__}: {first}"[:MAX_REASON_CHARS]


class OutageLog:
    """The outage report of one database (thread-safe)."""

    def __init__(self, logger: logging.Logger = log, repeat_seconds: float = REPEAT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._repeat = repeat_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None  # start of the current outage; None: reachable
        self._announced = False  # the current outage has been logged
        self._failures = 0  # in the current outage
        self._unreported = 0  # failures since the last line (a short unlogged blip's too)
        self._last_report = -math.inf

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        """An operation failed with an unreachable database."""
        now = self._clock()
        with self._lock:
            if self._since is None:
                self._since, self._failures, self._announced = now, 0, False
            self._failures += 1
            self._unreported += 1
            # At most one line per window, however the outage flaps (pool timeouts under load
            # may alternate with successes): bounded output whatever the failure rate.
            if now - self._last_report < self._repeat:
                return
            first, count, since = not self._announced, self._unreported, self._since
            self._announced, self._unreported, self._last_report = True, 0, now
        if first:
            self._log.warning("database unreachable: %s", short_reason(exc),
                              extra={"failed_operations": count})
        else:
            self._log.warning("database still unreachable after %.0f s: %s", now - since,
                              short_reason(exc), extra={"failed_operations": count})

    def reachable(self) -> None:
        """A transaction committed: if an outage was on, it is over."""
        if self._since is None:  # the common case, without the lock (called per commit)
            return
        now = self._clock()
        with self._lock:
            if self._since is None:
                return
            announced, since, failures = self._announced, self._since, self._failures
            self._since, self._announced = None, False
            if announced:
                self._unreported = 0
        if announced:
            self._log.warning("database reachable again after %.1f s", now - since,
                              extra={"failed_operations": failures})


def watch(engine: Engine) -> OutageLog:
    """Report `engine`'s outages: failures as the engine sees them (connects included), the end
    at the first commit after. Also invalidates the pool's connections on such an error, so
    that the next checkout reconnects instead of reusing a connection to a lost server."""
    outage = OutageLog()

    def on_error(ctx: Any) -> None:
        if ctx.is_pre_ping:  # a stale pooled connection: the pool reconnects, and reports that
            return
        exc = ctx.sqlalchemy_exception
        if exc is None or not (ctx.is_disconnect or _driver_unreachable_any(exc)):
            return
        ctx.is_disconnect = True
        outage.failed(exc)

    def on_commit(conn: Any) -> None:
        outage.reachable()

    event.listen(engine, "handle_error", on_error)
    event.listen(engine, "commit", on_commit)
    return outage


def _driver_unreachable_any(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and _driver_unreachable(exc)


def log_failure(logger: logging.Logger, message: str, exc: BaseException,
                extra: dict[str, Any] | None = None) -> None:
    """A background round (claim, heartbeat, sweep, dispatch) failed and will be retried: the
    traceback of a bug, or, for an unreachable database, only a debug line, since the store's
    outage report already says so once for everybody (no traceback per round per thread)."""
    if is_unreachable(exc):
        logger.debug("%s: database unreachable", message, extra=extra)
    else:
        logger.error(message, exc_info=exc, extra=extra)
