"""A throwaway PostgreSQL cluster from Debian's server binaries, for the scale-out tests.

The cluster lives in a temporary directory, listens only on a Unix socket and a loopback port,
runs as the `postgres` system user (the server refuses root), and is stopped at the end."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    # By path: sbin directories are often not on a CI job's PATH.
    runuser = shutil.which("runuser") or next(
        (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if Path(p).exists()), "runuser"
    )
    return [runuser, "-u", "postgres", "--", *cmd]


@dataclass
class PgInstance:
    """A running throwaway cluster that a test may stop and start again (same data, same
    port): a database outage, as an operator's restart or crash makes one."""

    bindir: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://fluxhost@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(_as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"),
                                     *args]), check=check, capture_output=True)

    def start(self) -> None:
        self._ctl("-l", str(self.root / "log"), "-w", "start",
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off -c max_connections=200")
        _wait(self.url)

    def stop(self, mode: str = "fast") -> None:
        """`fast`: clients are disconnected, the server shuts down cleanly; `immediate`: as a
        crash (recovery at the next start)."""
        self._ctl("-m", mode, "-w", "stop")


@contextmanager
def postgres_instance() -> Iterator[PgInstance]:
    """A fresh cluster, started; removed at the end."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (scripts/ensure-postgres.sh)")
    root = Path(tempfile.mkdtemp(prefix="fluxhost-pg-"))
    from tests.e2e.harness import free_port

    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    pg = PgInstance(bindir, root, port)
    try:
        subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(root / "data"),
                                     "-U", "fluxhost", "--auth=trust", "-E", "UTF8",
                                     "--no-sync"]), check=True, capture_output=True)
        pg.start()
        yield pg
    finally:
        pg._ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a fresh, empty database."""
    with postgres_instance() as pg:
        yield pg.url


def _wait(url: str, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url.replace("postgresql://", "postgresql://", 1)).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
