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


def make_zip(members: dict[str, bytes]) -> str:
    import base64
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return base64.b64encode(buf.getvalue()).decode()


def png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_create_then_delete_during_training(client: TestClient, tenant: Tenant) -> None:
    body = {"file_data": make_zip({"a.png": png(), "a.txt": b"a red square", "b.png": png()}),
            "finetune_comment": "reds", "mode": "style", "iterations": 100,
            "finetune_type": "lora", "lora_rank": 16}
    r = client.post("/v1/finetune", headers=tenant.headers, json=body)
    assert r.status_code == 200, r.text
    finetune_id = r.json()["finetune_id"]
    assert set(r.json()) == {"finetune_id"}
    poll = client.get("/v1/get_result", params={"id": finetune_id}).json()
    assert poll["status"] == "Pending"  # training is a task in the same queue
    details = client.get("/v1/finetune_details", params={"finetune_id": finetune_id},
                         headers=tenant.headers).json()["finetune_details"]
    assert details["status"] == "Pending" and details["images"] == 2
    assert details["finetune_comment"] == "reds" and details["lora_rank"] == 16
    assert finetune_id in client.get("/v1/my_finetunes", headers=tenant.headers).json()[
        "finetunes"]
    # Not usable until trained.
    deleted = client.post("/v1/delete_finetune", headers=tenant.headers,
                          json={"finetune_id": finetune_id})
    assert deleted.status_code == 200
    poll = client.get("/v1/get_result", params={"id": finetune_id}).json()
    assert poll["status"] == "Error" and "deleted during training" in poll["details"]["error"]


def test_refused_zip_is_422_naming_the_problem(client: TestClient, tenant: Tenant) -> None:
    cases = {"../evil.png": "escapes the archive root", "notes.txt": "no usable image"}
    for name, message in cases.items():
        body = {"file_data": make_zip({name: png() if name.endswith(".png") else b"x"}),
                "finetune_comment": "c", "mode": "general"}
        r = client.post("/v1/finetune", headers=tenant.headers, json=body)
        assert r.status_code == 422, r.text
        assert message in r.json()["detail"][0]["msg"]
