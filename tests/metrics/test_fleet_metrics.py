"""Metrics of a fleet in real processes: an API-only `fluxhost serve` (fleet figures from the
database) and a `fluxhost worker --metrics-port` (its own events), sharing one database."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, free_port, wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    r = httpx.get(url, timeout=10)
    r.raise_for_status()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_scrape(url: str, timeout: float = 90) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(url)
        except httpx.HTTPError:
            assert time.monotonic() < deadline, f"no metrics at {url}"
            time.sleep(0.2)


def test_api_and_worker_processes(tmp_path: Path, dev_model_dir: Path,
                                  dev_lora_file: Path) -> None:
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir)
    node.data_dir.mkdir()
    try:
        # Serve on a fresh SQLite with the default migration policy (the harness turns it on
        # for PostgreSQL's sake): the embedded database is migrated at start.
        env = node.env()
        del env["FLUXHOST_AUTO_MIGRATE"]
        log = open(node.data_dir / "serve-0.log", "wb")  # noqa: SIM115
        node.procs.append(subprocess.Popen(
            [sys.executable, "-m", "fluxhost.cli", "serve", "--workers", "0"], env=env,
            stdout=log, stderr=subprocess.STDOUT))
        api = wait_scrape(f"{node.url}/metrics")
        assert value(api, "fluxhost_database_up") == 1 and value(api, "fluxhost_ready") == 1

        key, finetune_id = provision(node, dev_lora_file)
        d = Deployment(node, key, finetune_id)
        ids = [d.submit(seed=i).json()["id"] for i in range(2)]
        api = scrape(f"{node.url}/metrics")
        assert value(api, "fluxhost_queue_tasks", state="queued", kind="base") == 2

        port = free_port()
        node.spawn("worker", "--metrics-port", str(port))
        assert all(wait_for(d.client, t, timeout=120)["status"] == "Ready" for t in ids)
        worker = wait_scrape(f"http://127.0.0.1:{port}/metrics")
        assert value(worker, "fluxhost_tasks_finished_total", kind="base", status="Ready") == 2
        assert value(worker, "fluxhost_engine_seconds_count", kind="base") == 2
        assert value(worker, "fluxhost_claim_latency_seconds_count", kind="base") == 2
        assert value(worker, "fluxhost_adapter_loads_total") == 1
        assert value(worker, "fluxhost_adapter_cache_hits_total") == 1
        assert value(worker, "fluxhost_process_workers", kind="base") == 1
        assert value(worker, "fluxhost_ready") == 1
        # Fleet figures are the API's alone: a worker does not repeat them.
        assert ("fluxhost_queue_tasks", (("kind", "base"), ("state", "queued"))) not in worker

        api = scrape(f"{node.url}/metrics")
        assert value(api, "fluxhost_queue_tasks", state="queued", kind="base") == 0
        assert value(api, "fluxhost_queue_tasks", state="running", kind="base") == 0
        # The API process ran nothing itself.
        assert value(api, "fluxhost_tasks_finished_total", kind="base", status="Ready") == 0
        d.client.close()
    finally:
        node.stop_all()
