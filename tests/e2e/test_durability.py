"""Nothing is lost: server restarts, workers killed with SIGKILL mid-task, graceful shutdown."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]
SLOW_TASK = {"width": 512, "height": 512, "steps": 50}


def task_row(node: Node, task_id: str) -> dict[str, object]:
    engine = create_engine(f"sqlite:///{node.data_dir / 'fluxhost.db'}")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT state, status, attempts FROM tasks WHERE id = :id"),
                           {"id": task_id}).mappings().one()
    engine.dispose()
    return dict(row)


def wait_running(d: Deployment, task_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = d.client.get("/v1/get_result", params={"id": task_id}).json()
        if body["progress"] is not None and body["progress"] > 0:
            return
        assert body["status"] == "Pending", body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never started running")


def test_restart_keeps_pending_and_finished_tasks(node: Node, dev_lora_file: Path) -> None:
    key, ft = provision(node, dev_lora_file)
    api_only = node.serve(workers=0)
    d = Deployment(node, key, ft)
    pending = [d.submit(seed=i).json()["id"] for i in range(3)]
    assert node.stop(api_only)  # SIGTERM: clean exit

    server = node.serve(workers=1)
    done = [wait_for(d.client, t) for t in pending]
    assert [b["status"] for b in done] == ["Ready"] * 3
    node.stop(server)

    node.serve(workers=0)
    for t in pending:
        body = d.client.get("/v1/get_result", params={"id": t}).json()
        assert body["status"] == "Ready"
        assert d.client.get(body["result"]["sample"]).status_code == 200


def test_sigkilled_worker_task_is_reclaimed_and_ends_ready(node: Node,
                                                           dev_lora_file: Path) -> None:
    key, ft = provision(node, dev_lora_file)
    node.serve(workers=0, FLUXHOST_LEASE_SECONDS="2")
    d = Deployment(node, key, ft)
    victim = node.worker(FLUXHOST_LEASE_SECONDS="2")
    task_id = d.submit(seed=3, **SLOW_TASK).json()["id"]
    wait_running(d, task_id)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert task_row(node, task_id)["state"] == "running"  # its lease is still held

    node.worker(FLUXHOST_LEASE_SECONDS="2")
    body = wait_for(d.client, task_id, timeout=120)
    assert body["status"] == "Ready", body
    assert task_row(node, task_id)["attempts"] == 2
    assert d.client.get(body["result"]["sample"]).status_code == 200


def test_task_ends_error_after_max_attempts(node: Node, dev_lora_file: Path) -> None:
    key, ft = provision(node, dev_lora_file)
    env = {"FLUXHOST_LEASE_SECONDS": "1", "FLUXHOST_MAX_ATTEMPTS": "1"}
    node.serve(workers=0, **env)
    d = Deployment(node, key, ft)
    victim = node.worker(**env)
    task_id = d.submit(seed=4, **SLOW_TASK).json()["id"]
    wait_running(d, task_id)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)

    node.worker(**env)
    body = wait_for(d.client, task_id, timeout=60)
    assert body["status"] == "Error"
    assert "max_attempts=1" in body["details"]["error"]


def test_graceful_shutdown_finishes_or_releases(node: Node, dev_lora_file: Path) -> None:
    key, ft = provision(node, dev_lora_file)
    # A grace period shorter than the task: the task must be released, not left running.
    server = node.serve(workers=1, FLUXHOST_SHUTDOWN_GRACE_SECONDS="0.5")
    d = Deployment(node, key, ft)
    task_id = d.submit(seed=5, **SLOW_TASK).json()["id"]
    wait_running(d, task_id)
    assert node.stop(server)
    row = task_row(node, task_id)
    assert row["state"] in ("queued", "done"), row
    if row["state"] == "queued":
        assert row["attempts"] == 0  # a release does not spend an attempt

    node.serve(workers=1)
    assert wait_for(d.client, task_id, timeout=120)["status"] == "Ready"


def test_api_only_node_serves_while_separate_worker_runs(node: Node,
                                                          dev_lora_file: Path) -> None:
    key, ft = provision(node, dev_lora_file)
    node.serve(workers=0)
    d = Deployment(node, key, ft)
    task_id = d.submit(seed=6).json()["id"]
    time.sleep(0.5)
    assert d.client.get("/v1/get_result", params={"id": task_id}).json()["status"] == "Pending"
    node.worker()
    assert wait_for(d.client, task_id, timeout=120)["status"] == "Ready"
    with httpx.Client() as c:
        assert c.get(f"{node.url}/health").json()["embedded_workers"] == 0
