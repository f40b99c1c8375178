"""A database that cannot be reached (here: the SQLite file's directory gone) is a 503 with
Retry-After on every route that needs it, /health stays 200 and says so, the log has one line
and no traceback, and the server serves again once the file is back, without a restart.
PostgreSQL stopped and started under a real server: tests/e2e/test_db_outage.py."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fluxhost.api.errors import UNAVAILABLE_DETAIL
from fluxhost.settings import Settings
from fluxhost.store.keys import create_key
from tests.conftest import Tenant

PRO = "/v1/flux-pro-finetuned"


def _assert_unavailable(r: Any) -> None:
    assert r.status_code == 503, r.text
    assert r.json() == {"detail": UNAVAILABLE_DETAIL}
    assert int(r.headers["retry-after"]) > 0


def test_unreachable_sqlite_is_503_everywhere_and_heals(
        client: TestClient, tenant: Tenant, services: Any, settings: Settings,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    fresh_key = create_key(services.store, "fresh")[1]  # never looked up: auth needs the DB
    submit = {"finetune_id": tenant.finetune_id, "prompt": "a cat"}
    before = client.post(PRO, headers=tenant.headers, json=submit)  # key and finetune cached
    assert before.status_code == 200
    task_id = before.json()["id"]

    home: Path = settings.data_dir
    services.store.dispose()  # pooled connections would keep the moved file open
    home.rename(home.with_name("moved"))
    try:
        # The fast path (submit, auth cached: the group commit fails), auth itself (a key not
        # cached), a base endpoint, polls, the finetune routes, delete.
        _assert_unavailable(client.post(PRO, headers=tenant.headers, json=submit))
        _assert_unavailable(client.post(PRO, headers={"x-key": fresh_key}, json=submit))
        _assert_unavailable(client.post("/v1/flux-dev", headers=tenant.headers,
                                        json={"prompt": "a dog"}))
        _assert_unavailable(client.get("/v1/get_result", params={"id": task_id}))
        _assert_unavailable(client.get("/v1/get_result", params={"id": task_id},
                                       headers=tenant.headers))
        _assert_unavailable(client.get("/v1/my_finetunes", headers=tenant.headers))
        _assert_unavailable(client.get("/v1/finetune_details", headers=tenant.headers,
                                       params={"finetune_id": str(uuid.uuid4())}))
        _assert_unavailable(client.post("/v1/delete_finetune", headers=tenant.headers,
                                        json={"finetune_id": str(uuid.uuid4())}))
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["database"] == "unreachable"
        assert health.json()["status"] == "degraded"
        assert client.get("/ready").status_code == 503
    finally:
        home.with_name("moved").rename(home)

    again = client.post(PRO, headers=tenant.headers, json=submit)
    assert again.status_code == 200
    poll = client.get("/v1/get_result", params={"id": again.json()["id"]})
    assert poll.status_code == 200 and poll.json()["status"] == "Pending"
    assert client.get("/health").json()["database"] == "ok"

    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if m.startswith("database unreachable:")] == [
        "database unreachable: OperationalError: unable to open database file"]
    assert any(m.startswith("database reachable again after") for m in messages)
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []  # no traceback
