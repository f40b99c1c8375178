"""Submitting and polling, API side only (no workers: tasks stay Pending)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from fluxhost.api.app import create_app
from fluxhost.store.tasks import get_task
from tests.conftest import Tenant

PRO = "/v1/flux-pro-finetuned"
# Optional figures of a submit answer (tests/api/test_cost.py checks their values).
FIGURES = ("cost", "input_mp", "output_mp")


def submit(client: TestClient, tenant: Tenant, path: str = PRO, **body: Any) -> Any:
    return client.post(path, headers=tenant.headers,
                       json={"finetune_id": tenant.finetune_id, **body})


def test_submit_answers_id_and_absolute_polling_url(client: TestClient, tenant: Tenant) -> None:
    r = submit(client, tenant, prompt="a cat")
    assert r.status_code == 200
    body = r.json()
    assert {"id", "polling_url"} <= set(body) <= {"id", "polling_url", *FIGURES}
    uuid.UUID(body["id"], version=4)
    assert body["polling_url"] == f"http://testserver/v1/get_result?id={body['id']}"


def test_poll_pending_task(client: TestClient, tenant: Tenant) -> None:
    task_id = submit(client, tenant).json()["id"]
    r = client.get("/v1/get_result", params={"id": task_id})
    assert r.status_code == 200
    assert r.json() == {"id": task_id, "status": "Pending", "result": None, "progress": None,
                        "details": None, "preview": None}
    assert r.headers["retry-after"] == "1"


def test_unknown_task_is_404_task_not_found(client: TestClient) -> None:
    r = client.get("/v1/get_result", params={"id": "nope"})
    assert r.status_code == 404
    assert r.json() == {"id": "nope", "status": "Task not found", "result": None,
                        "progress": None, "details": None, "preview": None}


def test_get_result_without_id_is_422(client: TestClient) -> None:
    r = client.get("/v1/get_result")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "id"]
    assert r.json()["detail"][0]["type"] == "missing"


def test_webhook_variant(client: TestClient, tenant: Tenant) -> None:
    r = submit(client, tenant, webhook_url="http://127.0.0.1:9/hook", webhook_secret="s3")
    assert r.status_code == 200
    body = r.json()
    assert {"id", "status", "webhook_url", "polling_url"} <= set(body) \
        <= {"id", "status", "webhook_url", "polling_url", *FIGURES}
    assert body["status"] == "Pending"
    assert body["webhook_url"] == "http://127.0.0.1:9/hook"


def test_defaults_are_applied(client: TestClient, tenant: Tenant, services: Any) -> None:
    task = get_task(services.store, submit(client, tenant).json()["id"])
    assert task is not None
    p = task.params
    assert (p["steps"], p["guidance"], p["width"], p["height"]) == (40, 2.5, 1024, 768)
    assert (p["finetune_strength"], p["safety_tolerance"], p["output_format"]) == (1.1, 2, "jpeg")
    assert p["prompt"] == "" and p["prompt_upsampling"] is False
    assert isinstance(p["seed"], int)  # drawn at submit so a retry repeats the image

    ultra = get_task(services.store, submit(client, tenant, "/v1/flux-pro-1.1-ultra-finetuned")
                     .json()["id"])
    assert ultra is not None
    assert ultra.params["finetune_strength"] == 1.2
    assert ultra.params["aspect_ratio"] == "16:9"
    assert ultra.params["image_prompt_strength"] == 0.1


def test_explicit_seed_and_null_seed(client: TestClient, tenant: Tenant, services: Any) -> None:
    t = get_task(services.store, submit(client, tenant, seed=42).json()["id"])
    assert t is not None and t.params["seed"] == 42
    t = get_task(services.store, submit(client, tenant, seed=None).json()["id"])
    assert t is not None and isinstance(t.params["seed"], int)


def test_unknown_and_foreign_finetunes_are_404(
    client: TestClient, tenant: Tenant, make_tenant: Callable[[str], Tenant]
) -> None:
    bob = make_tenant("bob")
    r = client.post(PRO, headers=tenant.headers, json={"finetune_id": "missing"})
    assert r.status_code == 404
    assert r.json() == {"detail": "Finetune not found: missing"}
    r = client.post(PRO, headers=tenant.headers, json={"finetune_id": bob.finetune_id})
    assert r.status_code == 404
    assert r.json() == {"detail": f"Finetune not found: {bob.finetune_id}"}


def test_foreign_task_is_not_found_when_polled_with_a_key(
    client: TestClient, tenant: Tenant, make_tenant: Callable[[str], Tenant]
) -> None:
    bob = make_tenant("bob")
    task_id = submit(client, tenant).json()["id"]
    r = client.get("/v1/get_result", params={"id": task_id}, headers=bob.headers)
    assert r.status_code == 404 and r.json()["status"] == "Task not found"
    assert client.get("/v1/get_result", params={"id": task_id},
                      headers=tenant.headers).json()["status"] == "Pending"


def test_require_key_for_results(make_settings: Any, services: Any, tenant: Tenant) -> None:
    settings = make_settings(require_key_for_results=True)
    with TestClient(create_app(settings, services)) as c:
        task_id = submit(c, tenant).json()["id"]
        r = c.get("/v1/get_result", params={"id": task_id})
        assert r.status_code == 403
        assert r.json() == {"detail": "Not authenticated - Invalid Authentication"}
        assert c.get("/v1/get_result", params={"id": task_id},
                     headers=tenant.headers).status_code == 200


def test_public_base_url_setting(make_settings: Any, services: Any, tenant: Tenant) -> None:
    settings = make_settings(public_base_url="https://img.example.com/api/")
    with TestClient(create_app(settings, services)) as c:
        body = submit(c, tenant).json()
        assert body["polling_url"] == f"https://img.example.com/api/v1/get_result?id={body['id']}"


def test_forwarded_headers_from_trusted_proxy(
    make_settings: Any, services: Any, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "x-forwarded-proto": "https", "x-forwarded-host": "flux.example",
               "x-forwarded-prefix": "/bfl"}
    body = {"finetune_id": tenant.finetune_id}
    trusted = make_settings(forwarded_allow_ips=["testclient"])
    with TestClient(create_app(trusted, services)) as c:
        url = c.post(PRO, headers=headers, json=body).json()["polling_url"]
        assert url.startswith("https://flux.example/bfl/v1/get_result?id=")
    untrusted = make_settings()  # the test client's peer is not a trusted proxy
    with TestClient(create_app(untrusted, services)) as c:
        url = c.post(PRO, headers=headers, json=body).json()["polling_url"]
        assert url.startswith("http://testserver/v1/get_result?id=")


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert "noise" in body["models"]
    assert body["queue"] == {"queued": 0, "running": 0}
