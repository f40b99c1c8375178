"""/health names the model set that runs (`model_set`), so a client such as the playground says
what it is without guessing from the shape of `models`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fluxhost.api.app import create_app
from fluxhost.settings import Settings


def health(settings: Settings) -> dict[str, Any]:
    from fluxhost.services import build_services

    svc = build_services(settings)
    try:
        with TestClient(create_app(settings, svc)) as client:
            body: dict[str, Any] = client.get("/health").json()
            return body
    finally:
        svc.store.dispose()


@pytest.mark.parametrize(("overrides", "model_set", "note"), [
    ({}, "dev", "noise"),
    ({"model_set": "emoji"}, "emoji64", "not FLUX"),
])
def test_a_shipped_set_is_named_beside_its_note(make_settings: Callable[..., Settings],
                                                overrides: dict[str, Any], model_set: str,
                                                note: str) -> None:
    body = health(make_settings(**overrides))
    assert body["model_set"] == model_set
    assert note in body["models"]  # the existing field is unchanged


def test_configured_weights_are_neither_demo_nor_noise(make_settings: Callable[..., Settings],
                                                       dev_model_dir: Path) -> None:
    # The dev set's folder configured as weights: served like anyone's own model.
    body = health(make_settings(models={"base": str(dev_model_dir / "base")}))
    assert body["model_set"] == "configured"
    assert body["models"]["base"] == str(dev_model_dir / "base")
