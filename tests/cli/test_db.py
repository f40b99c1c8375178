"""`fluxhost db upgrade` / `db current`, and `serve` and `worker` refusing a schema that is not
at this build's head: real processes, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from fluxhost.store.db import make_engine
from fluxhost.store.schema import schema_head
from tests.e2e.harness import run_fluxhost

pytestmark = pytest.mark.service

HEAD = schema_head()


def run(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")}
    full.update(FLUXHOST_DATA_DIR=str(data), FLUXHOST_PORT="1", **env)
    return run_fluxhost(list(args), env=full)


def assert_refused(out: subprocess.CompletedProcess[str], expected: str) -> None:
    """Exit 1 with one line on stderr that says why, before serving or claiming anything."""
    assert out.returncode == 1, (out.returncode, out.stderr[-2000:])
    lines = [line for line in out.stderr.splitlines() if line.strip()
             and not line.startswith(("=", "  "))]  # the dev-model banner is not the error
    assert lines == [f"error: {expected}"], out.stderr


def revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_upgrade_and_current_on_a_fresh_sqlite(tmp_path: Path) -> None:
    current = run(tmp_path, "db", "current")
    assert current.returncode == 0 and current.stdout.strip() == f"(empty) (head is {HEAD})"
    assert run(tmp_path, "db", "current", "--check").returncode == 1
    up = run(tmp_path, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == f"{HEAD} (head)"
    assert revision(f"sqlite:///{tmp_path / 'fluxhost.db'}") == HEAD
    assert run(tmp_path, "db", "current", "--check").returncode == 0
    assert run(tmp_path, "db", "upgrade").returncode == 0  # at head: nothing to do


@pytest.mark.parametrize("command", [("serve", "--workers", "0"), ("worker",)])
def test_refuses_an_empty_sqlite_when_migration_is_off(tmp_path: Path,
                                                       command: tuple[str, ...]) -> None:
    out = run(tmp_path, *command, FLUXHOST_AUTO_MIGRATE="false")
    assert_refused(out, f"database schema is empty (no fluxhost schema), this build expects "
                        f"{HEAD}; run `fluxhost db upgrade` (or start with --migrate)")
    assert run(tmp_path, "db", "current").stdout.startswith("(empty)")  # nothing was created


@pytest.mark.parametrize("command", [("serve", "--workers", "0"), ("worker",)])
def test_refuses_a_schema_at_another_revision(tmp_path: Path, command: tuple[str, ...]) -> None:
    """A database another build migrated (stamped here: the tables are this build's)."""
    url = f"sqlite:///{tmp_path / 'fluxhost.db'}"
    assert run(tmp_path, "db", "upgrade").returncode == 0
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'elsewhere'"))
    engine.dispose()
    # Even where the default is to migrate, an unknown revision is refused, not overwritten.
    out = run(tmp_path, *command)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()[-1]) < 300
    assert out.stderr.strip().splitlines()[-1].startswith("error: cannot migrate the database: ")
    out = run(tmp_path, *command, FLUXHOST_AUTO_MIGRATE="false")
    assert_refused(out, f"database schema is at elsewhere, this build expects {HEAD}; run "
                        "`fluxhost db upgrade` (or start with --migrate)")


@pytest.mark.skipif(HEAD == "0001", reason="one revision only: no older schema to start on")
def test_an_older_schema_is_refused_then_migrated_with_the_flag(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from fluxhost.store.db import MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path / 'fluxhost.db'}"
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    engine.dispose()
    out = run(tmp_path, "worker", FLUXHOST_AUTO_MIGRATE="false")
    assert_refused(out, f"database schema is at 0001, this build expects {HEAD}; run "
                        "`fluxhost db upgrade` (or start with --migrate)")
    # --migrate wins over the setting; the worker then runs until stopped.
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluxhost.cli", "worker", "--migrate"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")},
             "FLUXHOST_DATA_DIR": str(tmp_path), "FLUXHOST_AUTO_MIGRATE": "false"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time

        deadline = time.monotonic() + 60
        while revision(url) != HEAD:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(60)


@pytest.mark.slow
def test_postgres_needs_an_upgrade_step(tmp_path: Path, pg_url: str) -> None:
    env = {"FLUXHOST_DATABASE_URL": pg_url}
    for command in (("serve", "--workers", "0"), ("worker",), ("keys", "create", "ops")):
        out = run(tmp_path, *command, **env)
        assert_refused(out, f"database schema is empty (no fluxhost schema), this build "
                            f"expects {HEAD}; run `fluxhost db upgrade` (or start with "
                            "--migrate)")
    assert run(tmp_path, "db", "current", **env).stdout.strip() == f"(empty) (head is {HEAD})"
    up = run(tmp_path, "db", "upgrade", **env)
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == f"{HEAD} (head)"
    assert revision(pg_url) == HEAD
    assert run(tmp_path, "db", "current", "--check", **env).returncode == 0
    made = run(tmp_path, "keys", "create", "ops", **env)  # at head: commands run
    assert made.returncode == 0, made.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    out = run(tmp_path, "worker", FLUXHOST_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("error: cannot reach the database: ")
