"""Retention: finished tasks, their inputs and their images are deleted once expired."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from fluxhost.api.app import create_app
from fluxhost.store import queue
from fluxhost.store.tasks import submit_task
from fluxhost.worker import janitor
from tests.conftest import Tenant


def test_expired_results_are_deleted(make_settings: Any, services: Any, tenant: Tenant) -> None:
    store, blobs = services.store, services.blobs
    params = {"_input_blobs": {"image": "inputs/t-image.bin"}}
    tid = submit_task(store, key_id=tenant.key_id, endpoint="flux-pro-finetuned",
                      params=params, base_url="http://x", webhook_url=None,
                      webhook_secret=None, active_limit=10)
    blobs.put("inputs/t-image.bin", b"in")
    blobs.put("results/t.png", b"out")
    queue.claim(store, "w", lease_seconds=30, max_attempts=3, retention_seconds=0)
    queue.finish(store, tid, "w", queue.Outcome("Ready", result={"seed": 1},
                                                blob_key="results/t.png"),
                 retention_seconds=0.01)
    with TestClient(create_app(make_settings(), services)) as c:
        import time

        time.sleep(0.05)
        assert janitor.sweep(services) == 2
        assert blobs.get("results/t.png") is None and blobs.get("inputs/t-image.bin") is None
        r = c.get("/v1/get_result", params={"id": tid})
        assert r.status_code == 404 and r.json()["status"] == "Task not found"
