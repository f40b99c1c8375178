"""Booleans are booleans and numbers are not booleans, as on the provider: every boolean field
of every request model refuses 0, 1 and "true"; every number field refuses true and false.
(pydantic's lax mode took `"prompt_upsampling": 0` as False and `"image_prompt_strength": false`
as 0.0.) The cases come from the models, so a new field is covered when it is added."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from fluxhost.catalog import ENDPOINT_MODELS
from fluxhost.wire.finetunes import FinetuneInputs
from fluxhost.wire.strict import _scalar_kinds
from tests.conftest import Tenant

ROUTES: dict[str, type[BaseModel]] = {
    **{f"/v1/{name}": model for name, model in ENDPOINT_MODELS.items()},
    "/v1/finetune": FinetuneInputs,
}


@pytest.fixture(scope="module")
def client(shared_client: TestClient) -> TestClient:
    """Every case is a refusal or a task left queued: one app serves the module."""
    return shared_client


@pytest.fixture(scope="module")
def tenant(shared_tenant: Tenant) -> Tenant:
    return shared_tenant


def cases() -> list[tuple[str, str, Any, str]]:
    """(path, field, bad value, the error type pydantic gives)."""
    out = []
    for path, model in ROUTES.items():
        for name, info in model.model_fields.items():
            kinds = _scalar_kinds(info.annotation)
            if kinds == {bool}:
                out += [(path, name, value, "bool_type") for value in (0, 1, "true")]
            elif kinds:
                error = "float_type" if float in kinds else "int_type"
                out += [(path, name, value, error) for value in (True, False)]
    return out


CASES = cases()


def test_every_family_has_cases() -> None:
    fields = {(path, name) for path, name, _, _ in CASES}
    assert ("/v1/flux-pro-1.1-ultra-finetuned", "image_prompt_strength") in fields
    assert ("/v1/flux-dev", "prompt_upsampling") in fields
    assert ("/v1/flux-pro-1.1-ultra", "raw") in fields
    assert ("/v1/finetune", "iterations") in fields
    assert {("/v1/flux-2-flex", "prompt_upsampling"), ("/v1/flux-2-flex", "guidance"),
            ("/v1/flux-2-max", "disable_pup"), ("/v1/flux-2-klein-4b", "width")} <= fields
    assert len(fields) > 60


@pytest.mark.parametrize(("path", "field", "value", "error"), CASES)
def test_no_coercion_across_bool_and_number(client: TestClient, tenant: Tenant, path: str,
                                            field: str, value: Any, error: str) -> None:
    body = {"finetune_id": tenant.finetune_id, "prompt": "p", field: value}
    r = client.post(path, headers=tenant.headers, json=body)
    assert r.status_code == 422, r.text
    mine = [e for e in r.json()["detail"] if e["loc"] == ["body", field]]
    assert mine and mine[0]["type"] == error, r.json()
    assert mine[0]["input"] == value


def test_real_booleans_and_numbers_still_pass(client: TestClient, tenant: Tenant) -> None:
    r = client.post("/v1/flux-pro-1.1-ultra-finetuned", headers=tenant.headers,
                    json={"finetune_id": tenant.finetune_id, "prompt": "p",
                          "prompt_upsampling": False, "image_prompt_strength": 0,
                          "finetune_strength": 1, "seed": 7})
    assert r.status_code == 200, r.text
    r = client.post("/v1/flux-dev", headers=tenant.headers,
                    json={"prompt": "p", "steps": 28.0, "guidance": 3, "prompt_upsampling": True})
    assert r.status_code == 200, r.text
