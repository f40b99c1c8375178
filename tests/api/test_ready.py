"""GET /ready (readiness) beside GET /health (liveness), in-process with an embedded worker."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from fluxhost.api.routers.health import schema_head
from fluxhost.catalog import ENDPOINT_KINDS
from fluxhost.engine import Engine
from fluxhost.engine.devmodels import DEV_KINDS
from tests.conftest import Tenant

PRO = "/v1/flux-pro-finetuned"
TERMINAL = {"Ready", "Error", "Request Moderated", "Content Moderated"}

App = Callable[..., TestClient]


def settled_ready(client: TestClient, status: int, timeout: float = 60) -> dict[str, Any]:
    """/ready's body once the warm-up is over, asserting its HTTP status."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/ready")
        assert client.get("/health").status_code == 200  # liveness holds throughout
        warming = r.json().get("reason", "").startswith("warming up")
        if not warming or time.monotonic() > deadline:
            assert r.status_code == status, r.json()
            body: dict[str, Any] = r.json()
            return body
        time.sleep(0.05)


def run_task(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    task_id = client.post(PRO, headers=tenant.headers, json={
        "finetune_id": tenant.finetune_id, "prompt": "x", "width": 256, "height": 256,
        "steps": 2}).json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get("/v1/get_result", params={"id": task_id}).json()
        if body["status"] in TERMINAL:
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def test_api_only_node_checks_the_database(client: TestClient) -> None:
    r = client.get("/ready")
    assert r.status_code == 200
    # The endpoints whose kind the dev model set has, and the others (none once it has all).
    paths = {f"/v1/{endpoint}": kind for endpoint, kind in ENDPOINT_KINDS.items()}
    unserved = {path: kind for path, kind in paths.items() if kind not in DEV_KINDS}
    assert r.json() == {"status": "ready", "database": "ok", "schema": schema_head(),
                        "embedded_workers": 0,
                        "endpoints": [path for path in paths if path not in unserved],
                        **({"endpoints_unserved": unserved} if unserved else {})}


def test_schema_not_at_head_is_not_ready(client: TestClient, services: Any) -> None:
    with services.store.write() as session:
        session.execute(text("UPDATE alembic_version SET version_num = 'elsewhere'"))
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["reason"] == (
        f"database schema is at elsewhere, this build expects {schema_head()}")
    assert client.get("/health").status_code == 200


def test_dev_models_not_ready_until_warmed(app_with: App,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """503 while the worker loads the base pipeline (held back here), then 200."""
    gate = threading.Event()
    load = Engine.load

    def held_load(self: Engine, kind: str) -> Any:
        gate.wait(60)
        return load(self, kind)

    monkeypatch.setattr(Engine, "load", held_load)
    client = app_with(workers=1)
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["reason"] == "warming up: loading the base model"
    assert r.json()["models"] == {"base": "loading"}
    assert client.get("/health").status_code == 200
    gate.set()
    body = settled_ready(client, 200)
    assert body["status"] == "ready" and "reason" not in body
    assert body["models"] == {"base": "loaded"} and body["embedded_workers"] == 1


def test_missing_model_directory(app_with: App, tenant: Tenant, tmp_path: Path,
                                 caplog: pytest.LogCaptureFixture) -> None:
    source = str(tmp_path / "models" / "FLUX.1-dev")
    caplog.set_level(logging.INFO)
    client = app_with(workers=1, models={"base": source})
    reason = f"cannot load the base model from {source!r}: local directory does not exist"
    body = settled_ready(client, 503)
    assert body["reason"] == reason and body["models"] == {"base": reason}

    task = run_task(client, tenant)
    assert task["status"] == "Error" and task["details"] == {"error": reason}
    assert settled_ready(client, 503)["reason"] == reason  # the last attempt failed too

    # One line per attempt (the warm-up, then the task's), never a traceback at INFO.
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.getMessage() for r in lines if source in r.getMessage()] == [reason, reason]
    assert not [r for r in lines if r.exc_info], "a traceback was logged"


def test_hub_model_offline_and_not_cached(app_with: App) -> None:
    client = app_with(workers=1, models={"base": "fluxhost-tests/never-cached-model"})
    body = settled_ready(client, 503)
    assert body["reason"].startswith(
        "cannot load the base model from 'fluxhost-tests/never-cached-model': "
        "not cached and offline/no network")
