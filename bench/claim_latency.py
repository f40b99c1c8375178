"""Claim latency (task created -> claimed) on a real PostgreSQL, NOTIFY vs polling, and
throughput of 1, 2 and 4 `fluxhost worker` processes on the dev model.

    .venv/bin/python bench/claim_latency.py [--idle 40] [--busy 200] [--tasks 24]

Latency runs isolate the queue: the worker processes are real (`Runtime`, its workers, the
LISTEN thread, the registry) but their engine is a stand-in that returns an 8x8 image at once,
so what is measured is the wake-up and the claim, not a model. "created" is the row's
`created_at` (taken just before the submit transaction commits), "claimed" its `started_at`.
- idle: one worker process, tasks submitted one at a time at random moments, each after the
  previous finished (the worker is idle and waiting).
- busy: two worker processes of 2 workers each, tasks submitted at ~BUSY_RATE/s (below their
  capacity, so the queue stays short but the workers are rarely all idle).
Polling runs use POLL_INTERVAL_SECONDS=0.25 (the default) and no LISTEN; NOTIFY runs use
POLL_INTERVAL_SECONDS=30 so that nothing but NOTIFY can wake a worker in time.

Throughput: real `fluxhost worker` processes (dev model, 256x256, 4 steps), TORCH_THREADS =
cores / processes so they share the cores instead of oversubscribing them; tasks/s =
tasks / (last finish - first claim), so the processes' start-up is not counted.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _queue_common import ROOT, Store, rows, submit, summary, wait_done

BUSY_RATE = 40.0  # tasks/s submitted in the busy runs


class StandInEngine:
    """The engine interface a worker uses, doing no work: isolates the queue."""

    def available_kinds(self) -> frozenset[str]:
        return frozenset({"base"})

    def loaded_kinds(self) -> frozenset[str]:
        return frozenset({"base"})

    def load_failures(self) -> dict[str, str]:
        return {}

    def load(self, kind: str) -> None:
        return None

    def resident_loras(self) -> frozenset[str]:
        return frozenset()

    def retry_failed_loads(self) -> None:
        return None

    def forget_lora(self, key: str) -> None:
        return None

    def run(self, req: Any, **_: Any) -> Any:
        from PIL import Image

        return Image.new("RGB", (8, 8))


def worker_main() -> None:
    """`--worker`: one worker process with the stand-in engine, until SIGTERM."""
    from fluxhost.services import build_services
    from fluxhost.settings import Settings
    from fluxhost.worker.runtime import Runtime

    settings = Settings()
    runtime = Runtime(build_services(settings), workers=settings.workers,
                      dispatch_webhooks=False, engine_factory=StandInEngine)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    print("ready", flush=True)
    stop.wait()
    runtime.stop(grace_seconds=5)


def env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")}
    base.update(FLUXHOST_DATABASE_URL=url, FLUXHOST_DATA_DIR=str(data_dir),
                FLUXHOST_MODERATION_ENABLED="false", FLUXHOST_LOG_LEVEL="WARNING",
                HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    base.update(extra)
    return base


def start_standins(url: str, data_dir: Path, n: int, workers: int,
                   notify: bool) -> list[subprocess.Popen[str]]:
    extra = {"FLUXHOST_MODELS": '{"base": "/stand-in"}', "FLUXHOST_WORKERS": str(workers),
             "FLUXHOST_LISTEN_NOTIFY": str(notify).lower(),
             "FLUXHOST_POLL_INTERVAL_SECONDS": "30" if notify else "0.25"}
    procs = [subprocess.Popen([sys.executable, __file__, "--worker"], stdout=subprocess.PIPE,
                              text=True, env=env(url, data_dir, **extra)) for _ in range(n)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # warm-up done, LISTEN connected, workers idle
    return procs


def stop(procs: list[subprocess.Popen[Any]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(60)


def latencies(store: Store, ids: list[str]) -> list[float]:
    return [r.started_at - r.created_at for r in rows(store, ids)]


def idle_run(store: Store, n: int) -> list[float]:
    rng = random.Random(1)
    ids = []
    for i in range(n):
        time.sleep(rng.uniform(0.05, 0.3))  # a random phase against the poll
        ids.append(submit(store, i))
        wait_done(store, ids[-1:])
    return latencies(store, ids)


def busy_run(store: Store, n: int) -> list[float]:
    ids = []
    start = time.monotonic()
    for i in range(n):
        time.sleep(max(0.0, start + i / BUSY_RATE - time.monotonic()))
        ids.append(submit(store, i))
    wait_done(store, ids)
    return latencies(store, ids)


def latency_bench(url: str, data_dir: Path, n_idle: int, n_busy: int) -> None:
    store = Store.open(url)
    print(f"claim latency, created -> claimed (stand-in engine; busy: ~{BUSY_RATE:g} tasks/s "
          "into 2 processes x 2 workers)")
    for notify in (True, False):
        label = "NOTIFY (poll 30 s)" if notify else "polling every 0.25 s"
        procs = start_standins(url, data_dir, 1, 1, notify)
        try:
            print(f"  idle  {label:<22} {summary(idle_run(store, n_idle))}", flush=True)
        finally:
            stop(procs)
        procs = start_standins(url, data_dir, 2, 2, notify)
        try:
            print(f"  busy  {label:<22} {summary(busy_run(store, n_busy))}", flush=True)
        finally:
            stop(procs)
    store.dispose()


def throughput_bench(url: str, data_dir: Path, n_tasks: int) -> None:
    from fluxhost.engine.devmodels import ensure_dev_model_set

    dev = data_dir / "dev-models"
    ensure_dev_model_set(dev)
    store = Store.open(url)
    cores = os.cpu_count() or 1
    print(f"throughput, `fluxhost worker` processes, dev model 256x256 4 steps, "
          f"{n_tasks} tasks, {cores} cores")
    for n in (1, 2, 4):
        threads = max(1, cores // n)
        extra = {"FLUXHOST_DEV_MODEL_DIR": str(dev), "FLUXHOST_TORCH_THREADS": str(threads),
                 "FLUXHOST_LOG_FORMAT": "json", "FLUXHOST_LOG_LEVEL": "INFO"}
        logs = [open(data_dir / f"tp-{n}-{i}.log", "w+") for i in range(n)]  # noqa: SIM115
        procs = [subprocess.Popen([sys.executable, "-m", "fluxhost.cli", "worker",
                                   "--no-webhooks"], stdout=log, stderr=subprocess.STDOUT,
                                  env=env(url, data_dir, **extra), cwd=ROOT) for log in logs]
        try:
            _wait_lines(logs, '"listening for new tasks"')
            time.sleep(2.0)  # every warm-up done
            ids = [submit(store, i) for i in range(n_tasks)]
            wait_done(store, ids, poll=0.05)
            got = rows(store, ids)
            span = max(r.finished_at for r in got) - min(r.started_at for r in got)
            ok = sum(r.status == "Ready" for r in got)
            print(f"  {n} process(es), torch threads {threads}: {n_tasks / span:6.2f} tasks/s "
                  f"({ok}/{n_tasks} Ready, {span:.1f} s)", flush=True)
        finally:
            stop(procs)
            for log in logs:
                log.close()
    store.dispose()


def _wait_lines(logs: list[Any], line: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(line in Path(log.name).read_text() for log in logs):
            return
        time.sleep(0.1)
    raise TimeoutError(f"workers did not log {line!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--idle", type=int, default=40, help="tasks per idle latency run")
    parser.add_argument("--busy", type=int, default=200, help="tasks per busy latency run")
    parser.add_argument("--tasks", type=int, default=24, help="tasks per throughput run")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker_main()
        return
    from tests.pg import postgres_cluster

    with postgres_cluster() as url, tempfile.TemporaryDirectory() as tmp:
        latency_bench(url, Path(tmp), args.idle, args.busy)
        if not args.skip_throughput:
            throughput_bench(url, Path(tmp), args.tasks)


if __name__ == "__main__":
    main()
