"""The endpoint catalog agrees with the wire models it names, and everything derived from it is
derived: routes, SDK methods, CLI subcommands, /ready's lists and the settings' checks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from fluxhost import catalog
from fluxhost.catalog import Endpoint
from fluxhost.kinds import BUILTIN_KINDS, ENDPOINT_KINDS
from fluxhost.settings import Settings

RECORDS = {e.name: e for e in catalog.ENDPOINTS}


def _default(record: Endpoint, name: str) -> object:
    default = record.model.model_fields[name].default
    return getattr(default, "value", default)


def test_names_paths_methods_and_operation_ids_are_unique() -> None:
    for attribute in ("name", "path", "method", "operation_id"):
        values = [getattr(e, attribute) for e in catalog.ENDPOINTS]
        assert len(set(values)) == len(values) == 24, attribute


@pytest.mark.parametrize("name", list(RECORDS))
def test_a_record_agrees_with_its_request_model(name: str) -> None:
    record = RECORDS[name]
    fields = record.model.model_fields
    assert set(record.image_fields) <= set(fields)
    assert record.url_fields | record.uncounted_fields <= set(record.image_fields)
    assert set(record.size_from) <= set(record.image_fields)
    assert bool(record.size_from) == (record.sizing in ("input", "kontext", "flux2"))
    assert record.finetuned == ("finetune_id" in fields)
    assert record.kind in ENDPOINT_KINDS and BUILTIN_KINDS[record.kind] in record.pipelines
    assert record.output_format == _default(record, "output_format")
    if record.sizing in ("request", "flux2"):
        assert {"width", "height"} <= set(fields)
    if record.sizing == "ultra":
        assert "aspect_ratio" in fields
    # Where the contract has defaults for nullable steps and guidance, the record has them.
    if record.steps_guidance is not None and "steps" in fields:
        assert record.steps_guidance == (_default(record, "steps"), _default(record, "guidance"))
    if record.sizing in ("request", "input"):  # steps and guidance come from the request
        assert record.steps_guidance is not None or {"steps", "guidance"} <= set(fields)


def test_lookups_accept_paths_and_name_the_known() -> None:
    assert catalog.get("/v1/flux-dev") is catalog.get("flux-dev") is catalog.find("v1/flux-dev")
    assert catalog.find("flux-nope") is None
    with pytest.raises(KeyError, match="known: flux-pro-finetuned"):
        catalog.get("flux-nope")
    assert catalog.task_kind("finetune") == "training"
    assert catalog.task_kind("x" * 40) == "x" * 16  # its own kind: no worker serves it


def test_routes_sdk_and_cli_are_the_catalog() -> None:
    from fluxhost.api.routers.generate import FAST_HANDLERS, router
    from fluxhost.cli.generate import EndpointGroup
    from fluxhost.client import Client

    assert [r.path for r in router.routes] == [e.path for e in catalog.ENDPOINTS]
    assert list(FAST_HANDLERS) == [e.path for e in catalog.ENDPOINTS]
    assert EndpointGroup(name="generate").list_commands(None) == list(catalog.NAMES)
    for record in catalog.ENDPOINTS:
        method = getattr(Client, record.method)
        assert method.endpoint == record.name and method.model is record.model


def test_the_sdk_refuses_a_method_the_catalog_does_not_have() -> None:
    from fluxhost.client._typed import typed
    from fluxhost.wire import FluxDevInputs, FluxPro11Inputs

    # (Python 3.11 wraps an error of __set_name__ in a RuntimeError naming the attribute.)
    with pytest.raises((TypeError, RuntimeError), match="flux_nope"):
        type("C", (), {"flux_nope": typed(FluxDevInputs)})
    with pytest.raises((TypeError, RuntimeError), match="flux_dev"):  # the wrong body
        type("C", (), {"flux_dev": typed(FluxPro11Inputs)})


def test_settings_check_endpoints_against_the_catalog() -> None:
    with pytest.raises(ValidationError, match="unknown endpoints"):
        Settings(_env_file=None, endpoint_kinds={"flux-nope": "base"})  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="unknown endpoints"):
        Settings(_env_file=None, prices={"flux-nope": {"flat": 1}})  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="needs one of: fill"):
        Settings(_env_file=None,  # type: ignore[call-arg]
                 endpoint_kinds={"flux-pro-1.0-expand": "base"})


def test_the_catalog_loads_no_server_dependency() -> None:
    code = ("import sys, fluxhost.catalog, fluxhost.kinds\n"
            "print(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'fastapi', 'sqlalchemy', 'torch', 'pydantic_settings', 'PIL', 'starlette'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"
