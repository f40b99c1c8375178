"""An endpoint whose kind this server's configuration has no model for is refused at once
(501), before its body is read, instead of queued for ever: such tasks could never run, held
their key's active-task slots (24 of them locked a key out with 429) and never expired."""

from __future__ import annotations

from typing import Any

from fluxhost.store.tasks import count_by_state
from tests.conftest import Tenant

BASE_ONLY = {"models": {"base": "/nowhere/base"}, "workers": 0}  # API-only: nothing is loaded


def test_unserved_endpoint_is_501_and_stores_nothing(app_with: Any, services: Any,
                                                     tenant: Tenant) -> None:
    client = app_with(**BASE_ONLY)
    r = client.post("/v1/flux-pro-1.0-fill", headers=tenant.headers,
                    json={"prompt": "p", "image": "not even looked at"})
    assert r.status_code == 501
    assert r.json() == {"detail": "Endpoint /v1/flux-pro-1.0-fill is not served here: this "
                                  "server has no model for its kind 'fill' (FLUXHOST_MODELS); "
                                  "GET /ready lists the endpoints it serves"}
    assert count_by_state(services.store) == {}
    assert client.post("/v1/flux-dev", headers=tenant.headers,
                       json={"prompt": "red apple"}).status_code == 200


def test_every_unserved_endpoint_is_refused_and_ready_agrees(app_with: Any,
                                                             tenant: Tenant) -> None:
    client = app_with(**BASE_ONLY)
    unserved = client.get("/ready").json()["endpoints_unserved"]
    # All but the six on base: nine FLUX.1, seven FLUX.2, the two klein -finetuned.
    assert len(unserved) == 18
    for path in unserved:
        r = client.post(path, headers=tenant.headers, json={"prompt": "p"})
        assert r.status_code == 501, (path, r.text)


def test_auth_comes_first(app_with: Any) -> None:
    client = app_with(**BASE_ONLY)
    r = client.post("/v1/flux-pro-1.0-canny", json={"prompt": "p"})
    assert r.status_code == 403


def test_refused_submits_hold_no_active_slots(app_with: Any, tenant: Tenant) -> None:
    client = app_with(**BASE_ONLY, max_active_tasks_per_key=2)
    for _ in range(30):
        assert client.post("/v1/flux-kontext-pro", headers=tenant.headers,
                           json={"prompt": "p"}).status_code == 501
    ok = client.post("/v1/flux-dev", headers=tenant.headers, json={"prompt": "red apple"})
    assert ok.status_code == 200, ok.text


def test_a_custom_kind_routed_endpoint_is_served(app_with: Any, tenant: Tenant) -> None:
    client = app_with(models={"base": "/nowhere/base",
                              "pro11": {"pipeline": "base", "source": "/nowhere/p"}},
                      endpoint_kinds={"flux-pro-1.1": "pro11"}, workers=0)
    r = client.post("/v1/flux-pro-1.1", headers=tenant.headers, json={"prompt": "p"})
    assert r.status_code == 200, r.text
