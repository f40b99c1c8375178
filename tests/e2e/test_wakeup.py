"""Worker wake-ups and kinds on PostgreSQL, with real processes: a NOTIFY from the submit
transaction wakes an idle `fluxhost worker` long before its poll would, and a worker started
with `--kinds fill` never claims a base task (which then shows as unserved)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fluxhost.store import Store
from fluxhost.store.tasks import get_task
from fluxhost.store.workers import live_workers_by_kind, unserved_queued_by_kind
from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, wait_for
from tests.e2e.test_endpoints import FILL, b64, noise

pytestmark = [pytest.mark.service, pytest.mark.slow]

POLL = "30"  # the fallback poll: nothing in these tests may wait for it


def wait_log(node: Node, line: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line in p.read_text() for p in node.data_dir.glob("worker-*.log")):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {line!r} in the worker logs: {node.logs()}")


def deploy(tmp_path: Path, dev_model_dir: Path, dev_lora_file: Path,
           pg_url: str) -> Deployment:
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_DATABASE_URL": pg_url,
                           "FLUXHOST_POLL_INTERVAL_SECONDS": POLL})
    node.data_dir.mkdir()
    key, ft = provision(node, dev_lora_file)
    node.serve(workers=0)
    return Deployment(node, key, ft)


def claim_delay(store: Store, task_id: str) -> float:
    task = get_task(store, task_id)
    assert task is not None and task.started_at is not None
    return task.started_at - task.created_at


def test_notify_wakes_an_idle_worker_at_once(tmp_path: Path, dev_model_dir: Path,
                                             dev_lora_file: Path, pg_url: str) -> None:
    d = deploy(tmp_path, dev_model_dir, dev_lora_file, pg_url)
    store = Store.open(pg_url, migrate_schema=False)
    try:
        d.node.worker()
        wait_log(d.node, '"listening for new tasks"')
        first = d.submit(seed=1).json()["id"]
        assert wait_for(d.client, first, timeout=90)["status"] == "Ready"
        for seed in (2, 3):
            time.sleep(1.0)  # the worker is idle, waiting up to 30 s for its next poll
            task_id = d.submit(seed=seed).json()["id"]
            assert wait_for(d.client, task_id, timeout=20)["status"] == "Ready"
            assert claim_delay(store, task_id) < 1.0  # woken by NOTIFY, not the 30 s poll
    finally:
        store.dispose()
        d.node.stop_all()


def test_a_fill_worker_never_claims_a_base_task(tmp_path: Path, dev_model_dir: Path,
                                                dev_lora_file: Path, pg_url: str) -> None:
    d = deploy(tmp_path, dev_model_dir, dev_lora_file, pg_url)
    store = Store.open(pg_url, migrate_schema=False)
    try:
        d.node.spawn("worker", "--kinds", "fill")
        wait_log(d.node, '"listening for new tasks"')
        base = d.submit(seed=1).json()["id"]
        mask = noise((256, 256)).convert("L")
        r = d.client.post(FILL, headers=d.headers, json={
            "finetune_id": d.finetune_id, "image": b64(noise((256, 256))), "mask": b64(mask),
            "steps": 15, "seed": 2})
        assert r.status_code == 200, r.text
        fill = r.json()["id"]
        assert wait_for(d.client, fill, timeout=90)["status"] == "Ready"
        time.sleep(1.0)
        task = get_task(store, base)
        assert task is not None and (task.state, task.attempts) == ("queued", 0)
        assert live_workers_by_kind(store) == {"fill": 1}
        assert unserved_queued_by_kind(store) == {"base": 1}
        assert d.node.stop(d.node.procs[-1])  # a clean stop leaves the registry
        assert live_workers_by_kind(store) == {}
    finally:
        store.dispose()
        d.node.stop_all()
