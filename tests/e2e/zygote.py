"""Start `fluxhost` processes for the tests by forking a process that has already imported them.

Every `fluxhost serve` or `fluxhost worker` the suite starts used to pay the import of torch,
diffusers and transformers (~6 CPU-s; ~8 CPU-s to a loaded worker), about a hundred times: over
a third of make test's CPU on two cores. The zygote imports that stack once per test process
(~8 CPU-s) and forks a child per command: `fluxhost serve --workers 1` is then ready after
0.6 CPU-s instead of ~8.

A child is a real process running the real CLI entry point (`python -m fluxhost.cli ARGS`, run
by runpy as `__main__`) with its own environment, working directory, stdout/stderr files and
pid: it reads its settings, migrates, binds its port, loads its models and exits or is killed
(SIGTERM, SIGKILL) exactly like an exec'd one. It exits as the interpreter would (threads
joined, atexit handlers run, streams flushed) but without tearing down the modules, which
takes 2.3 s with this many loaded. What it skips is only the module imports, which
is safe because nothing in fluxhost reads the environment or touches disk at import time (the
environment is set before the CLI runs). The zygote's own environment is the test process's,
which already has what import-time readers outside fluxhost need (HF_HUB_OFFLINE,
OMP_NUM_THREADS=1, set in tests/conftest.py before anything imports torch).

Protocol, one JSON object per line: the test process writes {"argv", "env", "cwd", "stdout",
"stderr"} to the zygote's stdin and reads {"pid": N} (or {"error": "..."}) from its stdout. The
zygote reaps its children and writes each exit status (as Popen's returncode: negative for a
signal) to STATUS_DIR/<pid>. At EOF on its stdin it kills the children it still has and exits.

`TESTS_EXEC=1` in the environment makes the harness exec every process instead (for comparing).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import runpy
import select
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

# What a server with an embedded worker imports by the time its first pipeline is loaded.
PRELOAD_MODULES = (
    "fluxhost.cli", "fluxhost.cli.server", "fluxhost.api.app",
    "fluxhost.worker.runtime", "fluxhost.engine.engine", "fluxhost.engine.loading",
    "fluxhost.store.db", "alembic.command", "alembic.config", "uvicorn", "torch", "diffusers",
    "transformers",
)
PRELOAD_DIFFUSERS = (
    "FluxPipeline", "FluxFillPipeline", "FluxControlPipeline", "FluxKontextPipeline",
    "FluxPriorReduxPipeline", "Flux2Pipeline", "Flux2KleinPipeline", "FluxTransformer2DModel",
    "Flux2Transformer2DModel", "AutoencoderKL", "AutoencoderKLFlux2",
    "FlowMatchEulerDiscreteScheduler",
)
PRELOAD_TRANSFORMERS = (
    "CLIPTextModel", "CLIPTokenizer", "CLIPImageProcessor", "T5EncoderModel", "T5Tokenizer",
    "T5TokenizerFast", "SiglipVisionModel", "SiglipImageProcessor", "Qwen3ForCausalLM",
    "Qwen2TokenizerFast", "PreTrainedTokenizerFast",
)
REAP_SECONDS = 0.02


def preload() -> None:
    for name in PRELOAD_MODULES:
        importlib.import_module(name)
    diffusers = sys.modules["diffusers"]
    transformers = sys.modules["transformers"]
    for attr in PRELOAD_DIFFUSERS:
        getattr(diffusers, attr)  # the lazy modules import on first access
    for attr in PRELOAD_TRANSFORMERS:
        getattr(transformers, attr)


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def run_child(request: dict[str, Any]) -> NoReturn:
    """In the forked child: become `python -m fluxhost.cli ARGV`, then exit as Python would."""
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    os.dup2(os.open(request["stdout"], flags, 0o644), 1)
    os.dup2(os.open(request["stderr"], flags | os.O_APPEND, 0o644) if request["stderr"]
            != request["stdout"] else 1, 2)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    # Buffered as an exec'd Python's are when they write to files: stdout by block, stderr
    # by line.
    sys.stdin = open(os.devnull)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = os.fdopen(1, "w", closefd=False)
    sys.stderr = sys.__stderr__ = os.fdopen(2, "w", buffering=1, closefd=False)
    sys.argv = [str(Path(sys.modules["fluxhost.cli"].__file__ or "").with_name("__main__.py")),
                *request["argv"]]
    try:
        runpy.run_module("fluxhost.cli", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exit_code(exc)
    except KeyboardInterrupt:
        finish()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Python's own exit on an uncaught ^C
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    finish()
    os._exit(code)


def exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def finish() -> None:
    """What the interpreter does at exit, less tearing down its ~4,000 modules (2.3 s, which
    would make every forked command slower than an exec'd one): join the threads that are not
    daemons (and run threading's exit hooks: executors), run the atexit handlers, flush."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def reap(status_dir: Path, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)
        tmp = status_dir / f".{pid}"
        tmp.write_text(str(os.waitstatus_to_exitcode(status)))
        tmp.rename(status_dir / str(pid))


def serve(status_dir: Path) -> None:
    """The zygote's loop: fork on request, reap, and answer on stdout."""
    children: set[int] = set()
    pending = b""
    try:
        while True:
            ready, _, _ = select.select([0], [], [], REAP_SECONDS)
            reap(status_dir, children)
            if not ready:
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                return  # the test process is gone or done
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                if threads() != 1:
                    answer: dict[str, Any] = {"error": f"{threads()} threads in the zygote"}
                else:
                    pid = os.fork()
                    if pid == 0:
                        # The child's exit unwinds through this loop: it must not take the
                        # zygote's other children down with it in the `finally` below.
                        children.clear()
                        run_child(request)
                    children.add(pid)
                    answer = {"pid": pid}
                os.write(1, json.dumps(answer).encode() + b"\n")
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reap(status_dir, children)


def main() -> None:
    status_dir = Path(sys.argv[1])
    preload()
    os.write(1, json.dumps({"ready": threads()}).encode() + b"\n")
    serve(status_dir)


if __name__ == "__main__":
    main()
