"""Shared fixtures: the dev model set is built once per session; every test gets its own data
directory, database and blob store."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fluxhost.settings import Settings

# Nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _name in list(os.environ):
    if _name.startswith("FLUXHOST_"):
        del os.environ[_name]


@pytest.fixture(scope="session")
def dev_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fluxhost.engine.devmodels import ensure_dev_model_set

    root = tmp_path_factory.mktemp("dev-models")
    ensure_dev_model_set(root)
    return root


@pytest.fixture
def make_settings(tmp_path: Path, dev_model_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "dev_model_dir": dev_model_dir,
            "ultra_megapixels": 0.0625,
            "webhook_allow_private": True,
            "heartbeat_seconds": 0.2,
            "poll_interval_seconds": 0.05,
            "workers": 0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def services(settings: Settings) -> Iterator[Any]:
    from fluxhost.services import build_services

    svc = build_services(settings)
    yield svc
    svc.store.dispose()
