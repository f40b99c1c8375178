"""Real processes on loopback: `fluxhost serve` and `fluxhost worker` started as a user would,
driven over HTTP, stopped with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TERMINAL = {"Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"}


# Ports for the servers the tests start come from a block of their own per pytest-xdist worker,
# below the kernel's ephemeral range (32768+ on Linux): asking the kernel for port 0 and letting
# the socket go hands the same number to any other process's next port-0 socket, so parallel
# workers (or a client connection) could take each other's ports between pick and listen.
_PORT_BLOCK = 1000
_PORT_FLOOR = 20000
# Where in the block this process starts: random, so that separate test runs on one machine
# (not xdist siblings, which have blocks of their own) do not walk the same numbers in step.
_next_port = random.randrange(_PORT_BLOCK)


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


def free_port() -> int:
    """A loopback port nobody listens on, from this worker's block (cycling through it)."""
    global _next_port
    first = _PORT_FLOOR + (_worker_index() % 12) * _PORT_BLOCK
    for _ in range(_PORT_BLOCK):
        port = first + _next_port
        _next_port = (_next_port + 1) % _PORT_BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}..{first + _PORT_BLOCK - 1}")


REPO_ROOT = Path(__file__).resolve().parents[2]


class Forked:
    """A process the zygote (tests/e2e/zygote.py) forked, with the part of Popen's interface
    the tests use. Its exit status comes from the zygote, which reaps it."""

    def __init__(self, args: list[str], pid: int, status: Path) -> None:
        self.args = args
        self.pid = pid
        self._status = status
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self._status.exists():
            self.returncode = int(self._status.read_text())
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """One per test process, started at its first use (~8 CPU-s of imports, once)."""

    _instance: Zygote | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.status_dir = Path(tempfile.mkdtemp(prefix="fluxhost-zygote-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")}
        # Its own messages (import warnings, a failed preload) in a file, not in whichever
        # test's captured stderr happened to be fd 2 when it started.
        self.log = self.status_dir.with_suffix(".log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.e2e.zygote", str(self.status_dir)],
                cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in, self._out = self.proc.stdin, self.proc.stdout
        if not self._out.readline():
            raise RuntimeError(f"the zygote did not start (exit {self.proc.wait()}): "
                               f"{self.log.read_text(errors='replace')[-3000:]}")
        atexit.register(self.close)

    @classmethod
    def get(cls) -> Zygote:
        with cls._lock:
            if cls._instance is None or cls._instance.proc.poll() is not None:
                cls._instance = Zygote()
            return cls._instance

    def spawn(self, argv: list[str], env: dict[str, str], stdout: Path, stderr: Path,
              cwd: Path | None = None) -> Forked:
        request = {"argv": argv, "env": env, "cwd": str(cwd or os.getcwd()),
                   "stdout": str(stdout), "stderr": str(stderr)}
        with self._lock:
            self._in.write(json.dumps(request).encode() + b"\n")
            self._in.flush()
            answer = json.loads(self._out.readline() or b"{}")
        if "pid" not in answer:
            raise RuntimeError(f"the zygote could not start {argv}: {answer}")
        return Forked([sys.executable, "-m", "fluxhost.cli", *argv], answer["pid"],
                      self.status_dir / str(answer["pid"]))

    def close(self) -> None:
        if self.proc.poll() is None:
            self._in.close()  # EOF: the zygote kills what it still runs, and exits
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.status_dir, ignore_errors=True)
        self.log.unlink(missing_ok=True)


def use_zygote() -> bool:
    return os.environ.get("TESTS_EXEC") != "1"


def run_fluxhost(args: list[str], *, env: dict[str, str], cwd: Path | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m fluxhost.cli ARGS` run to its end, as subprocess.run(capture_output=True,
    text=True) does it (forked from the zygote unless TESTS_EXEC=1)."""
    command = [sys.executable, "-m", "fluxhost.cli", *args]
    if not use_zygote():
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        proc = Zygote.get().spawn(args, env, out, err, cwd)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
        return subprocess.CompletedProcess(command, proc.wait(), out.read_text(errors="replace"),
                                           err.read_text(errors="replace"))


@dataclass
class Node:
    """Environment shared by the processes of one deployment (one data dir, one database)."""

    data_dir: Path
    dev_model_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes] | Forked] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")}
        env.update(
            FLUXHOST_DATA_DIR=str(self.data_dir),
            FLUXHOST_DEV_MODEL_DIR=str(self.dev_model_dir),
            FLUXHOST_PORT=str(self.port),
            FLUXHOST_ULTRA_MEGAPIXELS="0.0625",
            FLUXHOST_WEBHOOK_ALLOW_PRIVATE="true",
            FLUXHOST_HEARTBEAT_SECONDS="0.2",
            # The idle poll stays at its default (0.25 s): embedded workers are woken by the API
            # and PostgreSQL ones by NOTIFY, and at 0.05 s an idle server with a worker burnt
            # 5.8% of a core (1.7% at 0.25), with a dozen of them alive at once in make test.
            FLUXHOST_LOG_FORMAT="json",
            # On PostgreSQL a process migrates only when told to (the operator's default is
            # `fluxhost db upgrade` as a step; tests/cli/test_db.py covers that): these
            # deployments start on a fresh database.
            FLUXHOST_AUTO_MIGRATE="true",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def cli(self, *args: str, **env: str) -> str:
        out = run_fluxhost(list(args), env=self.env(**env))
        if out.returncode != 0:
            raise RuntimeError(f"fluxhost {' '.join(args)} failed: {out.stderr[-2000:]}")
        return out.stdout.strip()

    def spawn(self, *args: str, **env: str) -> subprocess.Popen[bytes] | Forked:
        path = self.data_dir / f"{args[0]}-{len(self.procs)}.log"
        proc: subprocess.Popen[bytes] | Forked
        if use_zygote():
            proc = Zygote.get().spawn(list(args), self.env(**env), path, path)
        else:
            with open(path, "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "fluxhost.cli", *args],
                    env=self.env(**env), stdout=log, stderr=subprocess.STDOUT,
                )
        self.procs.append(proc)
        return proc

    def serve(self, workers: int = 1, **env: str) -> subprocess.Popen[bytes] | Forked:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        proc = self.spawn("serve", "--workers", str(workers), **env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {self.logs()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not come up: {self.logs()}")

    def worker(self, concurrency: int = 1, **env: str) -> subprocess.Popen[bytes] | Forked:
        return self.spawn("worker", "--concurrency", str(concurrency), **env)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.data_dir.glob("*.log")))

    def stop(self, proc: subprocess.Popen[bytes] | Forked, timeout: float = 60) -> bool:
        """SIGTERM; True when the process shut down cleanly. uvicorn re-raises the signal
        after its graceful shutdown, so -SIGTERM is a clean exit too."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout)
        return code in (0, -signal.SIGTERM) and "runtime stopped cleanly" in self.logs()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def wait_for(client: httpx.Client, task_id: str, *, timeout: float = 60,
              until: set[str] | None = None) -> dict[str, Any]:
    """Poll like a client does until a terminal status (or one of `until`)."""
    until = until or TERMINAL
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get("/v1/get_result", params={"id": task_id}).json()
        if body["status"] in until:
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} not in {until} after {timeout}s: {body}")
