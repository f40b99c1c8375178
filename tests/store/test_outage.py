"""Database outages at the store: which errors count as "unreachable" (real driver errors), and
the outage report (one line per outage, rate-limited repeats, one line when it is back)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from fluxhost.store import Store
from fluxhost.store.db import make_engine
from fluxhost.store.keys import create_key
from fluxhost.store.outage import OutageLog, is_unreachable, log_failure

OUTAGE_LOGGER = "fluxhost.store.outage"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == OUTAGE_LOGGER]


def test_a_sqlite_file_that_cannot_be_opened_is_an_outage_reported_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    home = tmp_path / "db"
    store = Store.open(f"sqlite:///{home / 'q.db'}")
    store.dispose()  # pooled connections would keep the moved file open
    home.rename(tmp_path / "elsewhere")
    errors = []
    for _ in range(5):
        with pytest.raises(OperationalError) as info, store.read() as s:
            s.execute(text("SELECT 1"))
        errors.append(info.value)
    assert all(is_unreachable(e) for e in errors)
    assert store.outage.down
    assert _lines(caplog) == [
        "database unreachable: OperationalError: unable to open database file"]

    (tmp_path / "elsewhere").rename(home)
    assert store.ping()
    assert not store.outage.down
    assert _lines(caplog)[1:] and _lines(caplog)[1].startswith("database reachable again after")
    assert all(r.exc_info is None for r in caplog.records)
    store.dispose()


def test_a_postgres_server_that_refuses_connections_is_an_outage(
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("psycopg")
    with socket.socket() as s:  # a port nothing listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = Store(make_engine(f"postgresql://nobody:secret@127.0.0.1:{port}/db"))
    with pytest.raises(OperationalError) as info, store.read() as session:
        session.execute(text("SELECT 1"))
    assert is_unreachable(info.value)
    assert not store.ping()
    [line] = _lines(caplog)
    assert line.startswith("database unreachable: OperationalError: connection")
    assert "secret" not in line
    store.dispose()


def test_errors_of_a_reachable_database_are_not_an_outage(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'q.db'}")
    create_key(store, "a", plaintext="fh_same")
    with pytest.raises(IntegrityError) as dup:
        create_key(store, "b", plaintext="fh_same")
    with pytest.raises(OperationalError) as missing, store.read() as s:
        s.execute(text("SELECT * FROM no_such_table"))
    assert not is_unreachable(dup.value)
    assert not is_unreachable(missing.value)
    assert not is_unreachable(ValueError("x"))
    assert not store.outage.down
    assert is_unreachable(PoolTimeout("QueuePool limit of size 20 overflow 20 reached"))
    store.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeats_are_one_line_per_window_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    report = OutageLog(repeat_seconds=30, clock=clock)
    err = ConnectionRefusedError("refused")
    for _ in range(100):
        report.failed(err)
        clock.now += 0.1
    assert _lines(caplog) == ["database unreachable: ConnectionRefusedError: refused"]
    clock.now = 1031.0
    report.failed(err)
    assert _lines(caplog)[1] == "database still unreachable after 31 s: " \
                                "ConnectionRefusedError: refused"
    assert caplog.records[1].failed_operations == 100  # 99 unlogged, then this one
    report.reachable()
    assert _lines(caplog)[2] == "database reachable again after 31.0 s"
    assert caplog.records[2].failed_operations == 101
    # A blip soon after: counted, reported with the next line rather than as a line pair.
    report.failed(err)
    report.reachable()
    assert len(_lines(caplog)) == 3
    clock.now += 30
    report.failed(err)
    assert _lines(caplog)[3] == "database unreachable: ConnectionRefusedError: refused"
    assert caplog.records[3].failed_operations == 2


def test_background_rounds_log_a_traceback_only_for_bugs(
        caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("fluxhost.test")
    caplog.set_level(logging.DEBUG, logger="fluxhost.test")
    log_failure(logger, "round failed", PoolTimeout("pool"))
    log_failure(logger, "round failed", RuntimeError("bug"))
    quiet, loud = caplog.records
    assert (quiet.levelno, quiet.exc_info) == (logging.DEBUG, None)
    assert loud.levelno == logging.ERROR and loud.exc_info is not None
