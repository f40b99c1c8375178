"""Chaos: worker processes killed with SIGKILL (and restarted) at random while ~100 tasks with
webhooks run on PostgreSQL. Nothing may be lost or done twice: every task ends terminal, each
Ready one has exactly one downloadable image and one result blob, every task's webhook arrives
(at least once) from exactly one outbox row.

Kills are aimed, when one can be, at a worker holding a task whose denoising is done (progress
1.0, still running): that task is in VAE decoding or post-processing (moderation, encoding, blob
write, finish), the window the overlap opened; it must be retried and end Ready.

The seed is printed; FLUXHOST_CHAOS_SEED replays a run's choices (timing still varies)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import TERMINAL, Node
from tests.e2e.test_webhooks_e2e import Receiver

pytestmark = [pytest.mark.service, pytest.mark.slow]

TASKS = 100
WORKERS = 3
CHAOS_SECONDS = 45  # kills stop after this; the rest drains
DEADLINE_SECONDS = 150
WORKER_ENV = {
    "FLUXHOST_LEASE_SECONDS": "2",
    "FLUXHOST_HEARTBEAT_SECONDS": "0.2",
    # A task may be hit several times; it must still end Ready, not "worker lost".
    "FLUXHOST_MAX_ATTEMPTS": "20",
    # Three torch processes on a small machine: one thread each, not one per core each.
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class Db:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))

    def rows(self, sql: str) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql)).mappings()]


def owner_pid(owner: object) -> int | None:
    """Worker names are <host>-<pid>-w<i> (runtime.py)."""
    try:
        return int(str(owner).rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return None


def pick_victim(rng: random.Random, db: Db, workers: list[subprocess.Popen[bytes]]
                ) -> tuple[int | None, bool]:
    """Index of the worker to kill: one holding a task past its denoising if there is one,
    else one holding any task (a worker still loading its model would cost no task: None)."""
    by_pid = {w.pid: i for i, w in enumerate(workers)}
    rows = db.rows("SELECT lease_owner, progress FROM tasks WHERE state = 'running'")
    holding = [(by_pid[p], float(str(r["progress"] or 0))) for r in rows
               if (p := owner_pid(r["lease_owner"])) in by_pid]
    finishing = [i for i, progress in holding if progress >= 1.0]
    if finishing:
        return rng.choice(finishing), True
    if holding:
        return rng.choice(holding)[0], False
    return None, False


def test_sigkilled_workers_lose_nothing(tmp_path: Path, dev_model_dir: Path,
                                        dev_lora_file: Path, pg_url: str) -> None:
    seed = int(os.environ.get("FLUXHOST_CHAOS_SEED") or random.SystemRandom().randrange(1 << 31))
    print(f"chaos seed: {seed} (FLUXHOST_CHAOS_SEED={seed} to replay)")
    rng = random.Random(seed)
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_DATABASE_URL": pg_url,
                           "FLUXHOST_MAX_ACTIVE_TASKS_PER_KEY": str(TASKS * 2),
                           "FLUXHOST_WEBHOOK_RETRY_SCHEDULE": "[0.5, 1, 1, 2, 5]"})
    node.data_dir.mkdir()
    receiver = Receiver()
    db = Db(pg_url)
    started = time.monotonic()
    kills = aimed = 0
    try:
        key, ft = provision(node, dev_lora_file)
        node.serve(workers=0, **WORKER_ENV)
        workers = [node.worker(1, **WORKER_ENV) for _ in range(WORKERS)]
        d = Deployment(node, key, ft)
        ids = []
        for i in range(TASKS):
            r = d.submit(seed=i, steps=2, webhook_url=receiver.url, webhook_secret="s",
                         output_format=rng.choice(["jpeg", "png"]))
            assert r.status_code == 200, r.text
            ids.append(r.json()["id"])

        chaos_until = time.monotonic() + CHAOS_SECONDS
        deadline = started + DEADLINE_SECONDS
        next_kill = time.monotonic() + rng.uniform(3, 6)  # let the first workers load
        while time.monotonic() < deadline:
            states = db.rows("SELECT state FROM tasks")
            if all(r["state"] == "done" for r in states):
                break
            now = time.monotonic()
            if now < chaos_until and now >= next_kill:
                victim, in_post = pick_victim(rng, db, workers)
                if victim is None:
                    time.sleep(0.02)
                    continue
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait(10)
                workers[victim] = node.worker(1, **WORKER_ENV)
                kills += 1
                aimed += in_post
                next_kill = now + rng.uniform(1.5, 4.0)
            time.sleep(0.02)

        bodies = {t: d.client.get("/v1/get_result", params={"id": t}).json() for t in ids}
        statuses = [b["status"] for b in bodies.values()]
        assert all(s in TERMINAL for s in statuses), node.logs()
        ready = [t for t, b in bodies.items() if b["status"] == "Ready"]
        assert len(ready) == TASKS, {t: b for t, b in bodies.items() if b["status"] != "Ready"}
        for t in ready:
            image = d.client.get(bodies[t]["result"]["sample"])
            assert image.status_code == 200
            assert image.headers["content-type"] in ("image/jpeg", "image/png")
        results = node.data_dir / "blobs" / "results"
        for t in ready:
            assert len(list(results.glob(f"{t}.*"))) == 1, t

        outbox = db.rows("SELECT task_id, count(*) AS n FROM webhook_deliveries GROUP BY task_id")
        assert {r["task_id"] for r in outbox} == set(ids)
        assert all(r["n"] == 1 for r in outbox)  # finished once: one outbox row each
        calls = receiver.wait(TASKS, timeout=max(10, deadline + 30 - time.monotonic()))
        delivered = {json.loads(body)["task_id"] for _, body in calls}
        deadline_hooks = time.monotonic() + 30
        while delivered != set(ids) and time.monotonic() < deadline_hooks:
            time.sleep(0.2)
            delivered = {json.loads(body)["task_id"] for _, body in receiver.calls}
        assert delivered == set(ids)

        attempts = db.rows("SELECT attempts FROM tasks")
        retried = sum(1 for r in attempts if int(str(r["attempts"])) > 1)
        leftovers = len(list(results.glob(".*")))
        print(f"chaos: {TASKS} tasks, {WORKERS} worker processes, {kills} SIGKILLs "
              f"({aimed} aimed at a task past its denoising), {retried} tasks retried, all "
              f"Ready; {len(calls)} webhook calls for {len(delivered)} tasks; {leftovers} temp "
              f"blob files from killed writes; {time.monotonic() - started:.1f} s; seed {seed}")
        assert kills > 0 and retried > 0  # the kills cost tasks, and they were retried
    finally:
        receiver.close()
        db.engine.dispose()
        node.stop_all()
