"""GET /metrics, parsed by prometheus_client's own parser, as tasks go through an in-process
app: fleet figures from the database, per-process figures from the embedded worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Tenant

PRO = "/v1/flux-pro-finetuned"
TERMINAL = {"Ready", "Error", "Request Moderated", "Content Moderated"}

App = Callable[..., TestClient]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def submit(client: TestClient, tenant: Tenant, **body: Any) -> str:
    r = client.post(PRO, headers=tenant.headers, json={
        "finetune_id": tenant.finetune_id, "prompt": "x", "width": 256, "height": 256,
        "steps": 2, **body})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def wait_done(client: TestClient, ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for task_id in ids:
        while True:
            status = client.get("/v1/get_result", params={"id": task_id}).json()["status"]
            if status in TERMINAL:
                break
            assert time.monotonic() < deadline, f"task {task_id} did not finish"
            time.sleep(0.05)


def test_metrics_move_as_tasks_run(app_with: App, tenant: Tenant, free_port: int) -> None:
    api = app_with(workers=0)  # an API-only node: everything it accepts stays queued
    before = scrape(api)
    assert value(before, "fluxhost_database_up") == 1
    assert value(before, "fluxhost_ready") == 1
    assert value(before, "fluxhost_queue_tasks", state="queued", kind="base") == 0

    ids = [submit(api, tenant, seed=i) for i in range(3)]
    # A webhook nobody listens at: its delivery fails and stays pending, to be retried.
    ids.append(submit(api, tenant, seed=9, webhook_url=f"http://127.0.0.1:{free_port}/hook"))
    queued = scrape(api)
    assert value(queued, "fluxhost_queue_tasks", state="queued", kind="base") == 4
    assert value(queued, "fluxhost_queue_tasks", state="running", kind="base") == 0
    assert value(queued, "fluxhost_queue_oldest_age_seconds") > 0

    node = app_with(workers=1)  # a node with a worker, on the same database
    wait_done(node, ids)
    after = scrape(node)
    assert value(after, "fluxhost_queue_tasks", state="queued", kind="base") == 0
    assert value(after, "fluxhost_queue_oldest_age_seconds") == 0
    assert value(after, "fluxhost_process_workers", kind="base") == 1

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("fluxhost_tasks_finished_total", kind="base", status="Ready") == 4
    for histogram in ("fluxhost_claim_latency_seconds", "fluxhost_task_run_seconds",
                      "fluxhost_task_duration_seconds", "fluxhost_engine_seconds"):
        assert delta(f"{histogram}_count", kind="base") == 4, histogram
        assert delta(f"{histogram}_sum", kind="base") > 0, histogram
        assert delta(f"{histogram}_bucket", kind="base", le="+Inf") == 4, histogram
    # One finetune: loaded once by this node's engine, then found loaded.
    assert delta("fluxhost_adapter_loads_total") == 1
    assert delta("fluxhost_adapter_cache_hits_total") == 3

    deadline = time.monotonic() + 30
    while value(after, "fluxhost_webhook_attempts_total", outcome="retry") - value(
            before, "fluxhost_webhook_attempts_total", outcome="retry") < 1:
        assert time.monotonic() < deadline, "the webhook was not attempted"
        time.sleep(0.1)
        after = scrape(node)
    assert value(after, "fluxhost_webhook_deliveries", state="pending") == 1
    assert value(after, "fluxhost_webhook_deliveries", state="dead") == 0


def test_live_workers_come_from_the_registry(app_with: App, services: Any) -> None:
    from fluxhost.store import workers

    api = app_with(workers=0)
    before = value(scrape(api), "fluxhost_workers_live", kind="canny")
    worker_id = workers.register(services.store, ["canny", "depth"])  # a process elsewhere
    assert value(scrape(api), "fluxhost_workers_live", kind="canny") == before + 1
    workers.unregister(services.store, worker_id)
    assert value(scrape(api), "fluxhost_workers_live", kind="canny") == before


def test_a_queued_kind_no_live_worker_serves_is_reported(app_with: App, services: Any,
                                                        tenant: Tenant) -> None:
    from fluxhost.store import workers

    api = app_with(workers=0)  # nothing here claims: the only workers are in the registry
    fill_only = workers.register(services.store, ["fill"])
    submit(api, tenant, seed=1)
    submit(api, tenant, seed=2)
    samples = scrape(api)
    assert value(samples, "fluxhost_queue_unserved_tasks", kind="base") == 2
    assert value(samples, "fluxhost_queue_unserved_tasks", kind="fill") == 0
    base = workers.register(services.store, ["base"])
    assert value(scrape(api), "fluxhost_queue_unserved_tasks", kind="base") == 0
    workers.unregister(services.store, base)
    workers.unregister(services.store, fill_only)


def test_database_down_still_answers(app_with: App, services: Any) -> None:
    api = app_with(workers=0)
    services.store.engine.dispose()

    def broken() -> Any:
        raise RuntimeError("database gone")

    original = services.store.read
    services.store.read = broken
    try:
        samples = scrape(api)
    finally:
        services.store.read = original
    assert value(samples, "fluxhost_database_up") == 0
    assert value(samples, "fluxhost_ready") == 0
    assert ("fluxhost_queue_tasks", (("kind", "base"), ("state", "queued"))) not in samples


@pytest.fixture
def free_port() -> int:
    from tests.e2e.harness import free_port as pick

    return pick()
