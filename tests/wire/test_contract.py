"""The served /openapi.json against the provider's finetune-api.openapi.json, field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI

from fluxhost.api.app import create_app
from fluxhost.settings import Settings
from tests.conftest import CONTRACT_DIR

SPEC_PATH = CONTRACT_DIR / "finetune-api.openapi.json"
GENERATION_PATHS = [
    "/v1/flux-pro-finetuned",
    "/v1/flux-pro-1.1-ultra-finetuned",
    "/v1/flux-pro-1.0-fill-finetuned",
    "/v1/flux-pro-1.0-canny-finetuned",
    "/v1/flux-pro-1.0-depth-finetuned",
]
EXACT_SCHEMAS = [
    "FluxProFinetuneInputs",
    "FinetuneFluxUltraInput",
    "FinetuneFluxProFillInputs",
    "FinetuneCannyInputs",
    "FinetuneDepthInputs",
    "OutputFormat",
    "StatusResponse",
    "AsyncResponse",
    "AsyncWebhookResponse",
    "ResultResponse",
    "HTTPValidationError",
    "FinetuneInputs",
    "DeleteFinetuneInputs",
    "DeleteFinetuneResponse",
    "FinetuneDetailResponse",
    "MyFinetunesResponse",
]
MANAGEMENT = [("/v1/finetune", "post"), ("/v1/finetune_details", "get"),
              ("/v1/my_finetunes", "get"), ("/v1/delete_finetune", "post")]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.fail(f"contract not found at {SPEC_PATH}")
    return json.loads(SPEC_PATH.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("d"), workers=0)  # type: ignore[call-arg]
    app: FastAPI = create_app(settings)
    return app.openapi()


@pytest.mark.parametrize("name", EXACT_SCHEMAS)
def test_schema_matches_spec_exactly(spec: dict[str, Any], served: dict[str, Any],
                                     name: str) -> None:
    ours = served["components"]["schemas"][name]
    theirs = spec["components"]["schemas"][name]
    for prop in set(ours.get("properties", {})) | set(theirs.get("properties", {})):
        assert ours["properties"].get(prop) == theirs["properties"].get(prop), f"{name}.{prop}"
    assert ours == theirs


def test_validation_error_is_a_superset(spec: dict[str, Any], served: dict[str, Any]) -> None:
    ours = served["components"]["schemas"]["ValidationError"]
    theirs = spec["components"]["schemas"]["ValidationError"]
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


def test_security_scheme(spec: dict[str, Any], served: dict[str, Any]) -> None:
    assert served["components"]["securitySchemes"] == spec["components"]["securitySchemes"]


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
