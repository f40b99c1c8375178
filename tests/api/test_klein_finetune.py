"""POST /v1/finetune's base_model extension (issue 19): a FLUX.2 [klein] base is accepted when
the server has its model, stored on the finetune and its training task (whose kind only a worker
with that klein model claims); an unknown or unserved one is a 422 naming it; without it,
training is FLUX.1's exactly as before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fluxhost.kinds import KLEIN_TRAINING_KINDS
from fluxhost.store.models import Finetune, Task
from fluxhost.wire.finetunes import FinetuneInputs
from tests.api.test_finetunes import make_zip, png
from tests.conftest import Tenant


def _body(**extra: Any) -> dict[str, Any]:
    return {"file_data": make_zip({"a.png": png(), "a.txt": b"a red square"}),
            "finetune_comment": "reds", "mode": "style", "iterations": 100,
            "finetune_type": "lora", "lora_rank": 16, **extra}


def _rows(services: Any, finetune_id: str) -> tuple[Finetune, Task]:
    with services.store.read() as s:
        finetune, task = s.get(Finetune, finetune_id), s.get(Task, finetune_id)
    assert finetune is not None and task is not None
    return finetune, task


@pytest.mark.parametrize("base", sorted(KLEIN_TRAINING_KINDS))
def test_a_klein_base_is_stored_on_the_finetune_and_its_task(
        client: TestClient, tenant: Tenant, services: Any, base: str) -> None:
    r = client.post("/v1/finetune", headers=tenant.headers, json=_body(base_model=base))
    assert r.status_code == 200, r.text
    finetune_id = r.json()["finetune_id"]
    finetune, task = _rows(services, finetune_id)
    assert finetune.base_model == base and finetune.status == "Pending"
    assert task.kind == KLEIN_TRAINING_KINDS[base] and task.params["base_model"] == base
    details = client.get("/v1/finetune_details", params={"finetune_id": finetune_id},
                         headers=tenant.headers).json()["finetune_details"]
    assert details["base_model"] == base


@pytest.mark.parametrize("extra", [{}, {"base_model": None}])
def test_without_a_base_training_is_flux1_as_before(
        client: TestClient, tenant: Tenant, services: Any, extra: dict[str, Any]) -> None:
    r = client.post("/v1/finetune", headers=tenant.headers, json=_body(**extra))
    assert r.status_code == 200, r.text
    finetune, task = _rows(services, r.json()["finetune_id"])
    assert finetune.base_model is None and task.kind == "training"
    assert "base_model" not in task.params and "base_model" not in finetune.details


@pytest.mark.parametrize("value", ["klein-2b", "klein-9b-kv", "flux2-dev", "base", 4])
def test_an_unknown_base_is_a_422_naming_it(client: TestClient, tenant: Tenant,
                                            value: Any) -> None:
    r = client.post("/v1/finetune", headers=tenant.headers, json=_body(base_model=value))
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "base_model"] and error["input"] == value
    assert "klein-4b" in error["msg"]


def test_a_base_the_server_has_no_model_for_is_a_422_naming_it(
        app_with: Callable[..., TestClient], tenant: Tenant, services: Any,
        dev_model_dir: Path) -> None:
    client = app_with(models={"base": str(dev_model_dir / "base"),
                              "klein-9b": str(dev_model_dir / "klein-9b")})
    r = client.post("/v1/finetune", headers=tenant.headers, json=_body(base_model="klein-4b"))
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "base_model"] and "'klein-4b'" in error["msg"]
    assert "'klein-9b'" in error["msg"], "the answer names what the server does train on"
    with services.store.read() as s:
        assert s.query(Finetune).filter(Finetune.base_model.is_not(None)).count() == 0
    assert client.post("/v1/finetune", headers=tenant.headers,
                       json=_body(base_model="klein-9b")).status_code == 200


def test_the_wire_bases_are_the_trainable_kinds() -> None:
    schema = FinetuneInputs.model_json_schema()["properties"]["base_model"]
    assert schema["anyOf"][0]["enum"] == sorted(KLEIN_TRAINING_KINDS)
    assert "base_model" not in FinetuneInputs.model_json_schema().get("required", [])
