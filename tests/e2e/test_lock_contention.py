"""Another process holds the SQLite database's write lock (as `fluxhost keys create`, a second
server or a backup can) while a real `fluxhost serve` takes traffic over loopback: polls and
/health keep answering at once, submissions answer within their bound (503 with Retry-After,
nothing written, or success), and everything works again once the lock is released."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, wait_for
from tests.e2e.test_training import training_zip

pytestmark = [pytest.mark.service, pytest.mark.slow]

SUBMIT_TIMEOUT = 1.0  # FLUXHOST_SUBMIT_TIMEOUT_SECONDS for this server
HOLD_SECONDS = 6.0
# Bounds, not benchmarks: a frozen event loop shows as seconds; a shared 2-core CI box as ms.
READ_BOUND = 1.0
WRITE_BOUND = SUBMIT_TIMEOUT + 1.5


@pytest.fixture
def deployment(tmp_path: Path, dev_model_dir: Path, dev_lora_file: Path) -> Iterator[Deployment]:
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_SUBMIT_TIMEOUT_SECONDS": str(SUBMIT_TIMEOUT)})
    node.data_dir.mkdir(parents=True)
    key, finetune_id = provision(node, dev_lora_file)
    node.serve(workers=1)  # its worker polls, so it too waits on the lock, holding ours
    d = Deployment(node, key, finetune_id)
    yield d
    d.client.close()
    node.stop_all()


def hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    code = ("import sqlite3, time\n"
            f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "print('held', flush=True)\n"
            f"time.sleep({seconds})\n"
            "c.execute('COMMIT')\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def timed(call: Any) -> tuple[float, httpx.Response]:
    t0 = time.monotonic()
    r = call()
    return time.monotonic() - t0, r


def test_a_write_lock_held_by_another_process_freezes_nothing(deployment: Deployment) -> None:
    d = deployment
    before = d.submit(prompt="before the lock")
    assert before.status_code == 200, before.text
    task_id = before.json()["id"]
    wait_for(d.client, task_id)

    holder = hold_write_lock(d.node.data_dir / "fluxhost.db", HOLD_SECONDS)
    held_until = time.monotonic() + HOLD_SECONDS - 0.5
    reads: list[tuple[str, float, int]] = []
    writes: list[tuple[str, float, httpx.Response]] = []

    def poll() -> None:
        with httpx.Client(base_url=d.node.url, timeout=30) as c:
            while time.monotonic() < held_until:
                for path, params in (("/health", None), ("/v1/get_result", {"id": task_id})):
                    took, r = timed(lambda p=path, q=params: c.get(p, params=q))
                    reads.append((path, took, r.status_code))
                time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        while time.monotonic() < held_until - WRITE_BOUND:
            writes.append(("submit", *timed(lambda: d.submit(prompt="under the lock"))))
        writes.append(("finetune", *timed(lambda: d.client.post(
            "/v1/finetune", headers=d.headers,
            json={"file_data": training_zip(), "finetune_comment": "under the lock",
                  "mode": "general"}))))
        writes.append(("delete", *timed(lambda: d.client.post(
            "/v1/delete_finetune", headers=d.headers, json={"finetune_id": d.finetune_id}))))
    finally:
        poller.join()
        assert holder.wait(30) == 0

    print(f"reads under the lock: {len(reads)}, slowest {max(r[1] for r in reads):.3f} s; "
          f"writes: {[(w, round(t, 3), r.status_code) for w, t, r in writes]}")
    slow_reads = [r for r in reads if r[1] >= READ_BOUND or r[2] != 200]
    assert len(reads) >= 20 and not slow_reads, slow_reads
    assert writes
    for what, took, r in writes:
        assert took < WRITE_BOUND, (what, took, r.status_code)
        assert r.status_code in (200, 503), (what, r.status_code, r.text)
        if r.status_code == 503:
            assert r.headers.get("retry-after") and isinstance(r.json()["detail"], str)
    # The lock outlasted every bound, so every write under it was refused, none half-done.
    assert {r.status_code for _, _, r in writes} == {503}
    assert d.client.get("/v1/finetune_details", headers=d.headers,
                        params={"finetune_id": d.finetune_id}).status_code == 200

    after = d.submit(prompt="after the lock")
    assert after.status_code == 200, after.text
    assert wait_for(d.client, after.json()["id"])["status"] == "Ready"
    mine = d.client.get("/v1/my_finetunes", headers=d.headers).json()["finetunes"]
    assert mine == [d.finetune_id]  # no finetune was half-created under the lock
