"""The served /openapi.json against both contract files, schema by schema and operation by
operation: contract/finetune-api.openapi.json (the finetune family) and
contract/base-api.openapi.json (the ten non-finetuned FLUX.1 endpoints; FLUX.2's file has its
own test, test_contract_flux2.py).

One app serves both families, so a component shared by name (OutputFormat, AsyncResponse,
AsyncWebhookResponse) can match only one file: the served one is the base file's, the newer
superset (contract/BASE-API-SOURCES.md, "Disagreements"). The deltas against the other file are
listed below, exactly, and tested as such; anything else must be equal."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from fluxhost import catalog
from fluxhost.api.app import create_app
from fluxhost.settings import Settings
from fluxhost.wire import BaseGenerationInputs
from tests.conftest import CONTRACT_DIR

SPEC_PATH = CONTRACT_DIR / "finetune-api.openapi.json"
BASE_SPEC_PATH = CONTRACT_DIR / "base-api.openapi.json"
# The served generation routes, from the catalog: the finetune family's, then the base file's
# (each list is checked against its contract file below).
# FLUX.1's finetuned endpoints (the klein -finetuned ones are FLUX.2's, not in this file).
GENERATION_PATHS = [e.path for e in catalog.ENDPOINTS if e.finetuned and e.lora_base is None]
BASE_PATHS = [e.path for e in catalog.ENDPOINTS if issubclass(e.model, BaseGenerationInputs)]
EXACT_SCHEMAS = [
    "FluxProFinetuneInputs",
    "FinetuneFluxUltraInput",
    "FinetuneFluxProFillInputs",
    "FinetuneCannyInputs",
    "FinetuneDepthInputs",
    "StatusResponse",
    "ResultResponse",
    "HTTPValidationError",
    "DeleteFinetuneInputs",
    "DeleteFinetuneResponse",
    "FinetuneDetailResponse",
    "MyFinetunesResponse",
]
BASE_EXACT_SCHEMAS = [
    "FluxPro11Inputs",
    "FluxProInputs",
    "FluxDevInputs",
    "FluxUltraInput",
    "FluxProFillInputs",
    "FluxProExpandInputs",
    "CannyInputs",
    "DepthInputs",
    "FluxKontextProInputs",
    "OutputFormat",
    "AsyncResponse",
    "AsyncWebhookResponse",
    "HTTPValidationError",
]
# The finetune file is older than the served superset by exactly these (and one is
# fluxhost's own optional field).
FIGURES = ("cost", "input_mp", "output_mp")
FINETUNE_DELTAS: dict[str, dict[str, Any]] = {
    "OutputFormat": {"enum_added": ["webp"]},
    "AsyncResponse": {"optional_added": FIGURES},
    "AsyncWebhookResponse": {"optional_added": FIGURES},
    # fluxhost's extension: train on a FLUX.2 [klein] model (issue 19; docs/endpoints.md).
    "FinetuneInputs": {"optional_added": ("base_model",)},
}
# Operations the base file rebuilt from older pages that show no operationId and no title on
# the 200 schema: served with FastAPI's (which BASE-API-SOURCES.md names as the likely ones).
BASE_UNDOCUMENTED_IDS = {
    "/v1/flux-pro": "flux_pro_v1_flux_pro_post",
    "/v1/flux-pro-1.0-canny": "canny_v1_flux_pro_1_0_canny_post",
    "/v1/flux-pro-1.0-depth": "depth_v1_flux_pro_1_0_depth_post",
}
MANAGEMENT = [("/v1/finetune", "post"), ("/v1/finetune_details", "get"),
              ("/v1/my_finetunes", "get"), ("/v1/delete_finetune", "post")]


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        pytest.fail(f"contract not found at {path}")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return _load(SPEC_PATH)


@pytest.fixture(scope="module")
def base_spec() -> dict[str, Any]:
    return _load(BASE_SPEC_PATH)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("d"), workers=0)  # type: ignore[call-arg]
    app: FastAPI = create_app(settings)
    return app.openapi()


def _assert_same_schema(ours: dict[str, Any], theirs: dict[str, Any], name: str) -> None:
    for prop in set(ours.get("properties", {})) | set(theirs.get("properties", {})):
        assert ours["properties"].get(prop) == theirs["properties"].get(prop), f"{name}.{prop}"
    assert ours == theirs


@pytest.mark.parametrize("name", EXACT_SCHEMAS)
def test_schema_matches_spec_exactly(spec: dict[str, Any], served: dict[str, Any],
                                     name: str) -> None:
    _assert_same_schema(served["components"]["schemas"][name],
                        spec["components"]["schemas"][name], name)


@pytest.mark.parametrize("name", BASE_EXACT_SCHEMAS)
def test_schema_matches_base_spec_exactly(base_spec: dict[str, Any], served: dict[str, Any],
                                          name: str) -> None:
    _assert_same_schema(served["components"]["schemas"][name],
                        base_spec["components"]["schemas"][name], name)


@pytest.mark.parametrize("name", sorted(FINETUNE_DELTAS))
def test_finetune_spec_differs_by_the_documented_deltas_only(
    spec: dict[str, Any], served: dict[str, Any], name: str
) -> None:
    """The served schema, with exactly the listed additions taken out, is the finetune file's."""
    ours = copy.deepcopy(served["components"]["schemas"][name])
    delta = FINETUNE_DELTAS[name]
    for value in delta.get("enum_added", ()):
        ours["enum"].remove(value)
    for prop in delta.get("optional_added", ()):
        assert prop not in ours.get("required", [])
        assert ours["properties"].pop(prop)["anyOf"][-1] == {"type": "null"}
    _assert_same_schema(ours, spec["components"]["schemas"][name], name)


@pytest.mark.parametrize("which", ["finetune", "base"])
def test_validation_error_is_a_superset(spec: dict[str, Any], base_spec: dict[str, Any],
                                        served: dict[str, Any], which: str) -> None:
    ours = served["components"]["schemas"]["ValidationError"]
    theirs = (spec if which == "finetune" else base_spec)["components"]["schemas"][
        "ValidationError"]
    assert set(theirs["required"]) <= set(ours["required"])
    for prop, schema in theirs["properties"].items():
        assert ours["properties"][prop] == schema


@pytest.mark.parametrize("path", [*GENERATION_PATHS, "/v1/get_result"])
def test_operation_matches_spec(spec: dict[str, Any], served: dict[str, Any], path: str) -> None:
    method = "get" if path == "/v1/get_result" else "post"
    ours = served["paths"][path][method]
    theirs = spec["paths"][path][method]
    for field in ("operationId", "summary", "description", "tags", "security", "parameters",
                  "requestBody"):
        assert ours.get(field) == theirs.get(field), field
    assert ours["responses"]["200"] == theirs["responses"]["200"]
    assert ours["responses"]["422"] == theirs["responses"]["422"]


@pytest.mark.parametrize("path", BASE_PATHS)
def test_base_operation_matches_spec(base_spec: dict[str, Any], served: dict[str, Any],
                                     path: str) -> None:
    ours = copy.deepcopy(served["paths"][path]["post"])
    theirs = base_spec["paths"][path]["post"]
    if path in BASE_UNDOCUMENTED_IDS:  # the one documented delta: FastAPI's id and title
        assert "operationId" not in theirs
        assert ours.pop("operationId") == BASE_UNDOCUMENTED_IDS[path]
        assert "title" not in theirs["responses"]["200"]["content"]["application/json"][
            "schema"]
        ours["responses"]["200"]["content"]["application/json"]["schema"].pop("title")
    for field in ("operationId", "summary", "description", "tags", "security", "parameters",
                  "requestBody"):
        assert ours.get(field) == theirs.get(field), field
    assert ours["responses"]["200"] == theirs["responses"]["200"]
    assert ours["responses"]["422"] == theirs["responses"]["422"]


def test_every_finetune_generation_operation_is_served(spec: dict[str, Any],
                                                       served: dict[str, Any]) -> None:
    management = {path for path, _ in MANAGEMENT}
    generation = [path for path, ops in spec["paths"].items()
                  if "post" in ops and path not in management]
    assert sorted(generation) == sorted(GENERATION_PATHS)
    assert all("post" in served["paths"][path] for path in GENERATION_PATHS)


def test_every_base_operation_is_served(base_spec: dict[str, Any],
                                        served: dict[str, Any]) -> None:
    assert sorted(base_spec["paths"]) == sorted(BASE_PATHS)
    assert all("post" in served["paths"][path] for path in BASE_PATHS)


@pytest.mark.parametrize("which", ["finetune", "base"])
def test_security_scheme(spec: dict[str, Any], base_spec: dict[str, Any], served: dict[str, Any],
                         which: str) -> None:
    theirs = (spec if which == "finetune" else base_spec)["components"]["securitySchemes"]
    assert served["components"]["securitySchemes"] == theirs


@pytest.mark.parametrize(("path", "method"), MANAGEMENT)
def test_management_operation_matches_spec(spec: dict[str, Any], served: dict[str, Any],
                                           path: str, method: str) -> None:
    ours = served["paths"][path][method]
    theirs = spec["paths"][path][method]
    for field in ("operationId", "summary", "description", "tags", "security", "parameters",
                  "requestBody"):
        assert ours.get(field) == theirs.get(field), field
    for code, response in theirs["responses"].items():
        assert ours["responses"][code] == response, code
