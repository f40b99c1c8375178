"""Finetune management over the API: list, details, delete, and isolation between keys."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import Tenant

PRO = "/v1/flux-pro-finetuned"


def test_my_finetunes_lists_only_own(client: TestClient,
                                     make_tenant: Callable[[str], Tenant]) -> None:
    alice, bob = make_tenant("alice"), make_tenant("bob")
    r = client.get("/v1/my_finetunes", headers=alice.headers)
    assert r.status_code == 200 and r.json() == {"finetunes": [alice.finetune_id]}
    assert client.get("/v1/my_finetunes", headers=bob.headers).json() == {
        "finetunes": [bob.finetune_id]}
    assert client.get("/v1/my_finetunes").status_code == 403


def test_finetune_details_own_and_foreign(client: TestClient,
                                          make_tenant: Callable[[str], Tenant]) -> None:
    alice, bob = make_tenant("alice"), make_tenant("bob")
    r = client.get("/v1/finetune_details", params={"finetune_id": alice.finetune_id},
                   headers=alice.headers)
    assert r.status_code == 200
    details = r.json()["finetune_details"]
    assert {"finetune_comment", "trigger_word", "mode", "finetune_type", "lora_rank",
            "iterations", "learning_rate", "priority", "timestamp", "status"} <= set(details)
    assert details["status"] == "Ready" and details["finetune_comment"] == "alice-ft"
    foreign = client.get("/v1/finetune_details", params={"finetune_id": alice.finetune_id},
                         headers=bob.headers)
    unknown = client.get("/v1/finetune_details", params={"finetune_id": "nope"},
                         headers=bob.headers)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == {"detail": f"Finetune not found: {alice.finetune_id}"}


def test_delete_finetune(client: TestClient, make_tenant: Callable[[str], Tenant]) -> None:
    alice, bob = make_tenant("alice"), make_tenant("bob")
    body = {"finetune_id": alice.finetune_id}
    assert client.post(PRO, headers=alice.headers, json=body).status_code == 200  # cached as owned
    foreign = client.post("/v1/delete_finetune", headers=bob.headers, json=body)
    assert foreign.status_code == 404
    r = client.post("/v1/delete_finetune", headers=alice.headers, json=body)
    assert r.status_code == 200
    answer = r.json()
    assert set(answer) == {"status", "message", "deleted_finetune_id", "timestamp"}
    assert answer["deleted_finetune_id"] == alice.finetune_id and answer["status"] == "success"
    assert client.post("/v1/delete_finetune", headers=alice.headers, json=body).status_code == 404
    assert client.get("/v1/my_finetunes", headers=alice.headers).json() == {"finetunes": []}
    assert client.post(PRO, headers=alice.headers, json=body).status_code == 404  # at once


def test_finetune_requires_a_base64_zip(client: TestClient, tenant: Tenant) -> None:
    r = client.post("/v1/finetune", headers=tenant.headers,
                    json={"file_data": "%%%", "finetune_comment": "c", "mode": "general"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file_data"]
    r = client.post("/v1/finetune", headers=tenant.headers, json={"file_data": "x"})
    assert r.status_code == 422
    assert {e["loc"][-1] for e in r.json()["detail"]} == {"finetune_comment", "mode"}
    assert client.post("/v1/finetune", json={}).status_code == 403
