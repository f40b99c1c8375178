"""Scale-out on PostgreSQL: an API-only node and separate worker processes sharing the queue."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]


def wait_started(node: Node, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = [p.read_text() for p in node.data_dir.glob("worker-*.log")]
        if sum('"worker started"' in log for log in logs) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"{n} workers did not start: {node.logs()}")


def test_two_worker_processes_share_a_postgres_queue(tmp_path: Path, dev_model_dir: Path,
                                                     dev_lora_file: Path, pg_url: str) -> None:
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_DATABASE_URL": pg_url})
    node.data_dir.mkdir()
    try:
        key, ft = provision(node, dev_lora_file)
        node.serve(workers=0)
        node.worker()
        node.worker()
        wait_started(node, 2)
        d = Deployment(node, key, ft)
        ids = [d.submit(seed=i, steps=20).json()["id"] for i in range(12)]
        assert all(wait_for(d.client, t, timeout=120)["status"] == "Ready" for t in ids)
        engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            attempts = conn.execute(text("SELECT attempts FROM tasks")).scalars().all()
            active = conn.execute(text("SELECT active_tasks FROM api_keys")).scalar()
        engine.dispose()
        assert sorted(attempts) == [1] * 12  # each task claimed exactly once
        assert active == 0
        workers = {line.split('"worker": "')[1].split('"')[0]
                   for path in node.data_dir.glob("worker-*.log")
                   for line in path.read_text().splitlines() if '"task finished"' in line}
        assert len(workers) == 2, workers  # both processes took work
    finally:
        node.stop_all()
