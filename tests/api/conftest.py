from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fluxhost.api.app import create_app
from fluxhost.settings import Settings
from tests.conftest import Tenant, new_tenant, open_services, test_settings


@pytest.fixture
def client(settings: Settings, services: Any) -> Iterator[TestClient]:
    """The app in-process with no workers: tasks stay queued, for API-only assertions."""
    app = create_app(settings, services)
    with TestClient(app) as c:
        yield c


class SharedApp:
    """One app, database and key for a whole module, for tests that only read answers to
    requests which change nothing a later test reads (refusals, and submissions that stay
    queued): hundreds of such cases each paid a database, a key and an app start of their own."""

    def __init__(self, settings: Settings, services: Any, tenant: Tenant) -> None:
        self.settings = settings
        self.services = services
        self.tenant = tenant


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path,
               sqlite_at_head: Path, dev_lora_file: Path) -> Iterator[SharedApp]:
    # Accepted submissions stay queued (no workers): the per-key bound on active tasks is
    # lifted so that a module's accepted cases do not run into it.
    settings = test_settings(tmp_path_factory.mktemp("shared-app"), dev_model_dir,
                             max_active_tasks_per_key=100_000)
    services = open_services(settings, sqlite_at_head)
    try:
        yield SharedApp(settings, services, new_tenant(services, dev_lora_file, "alice"))
    finally:
        services.store.dispose()


@pytest.fixture(scope="module")
def shared_client(shared_app: SharedApp) -> Iterator[TestClient]:
    """The shared app in-process (server errors raised into the test, as `client`)."""
    with TestClient(create_app(shared_app.settings, shared_app.services)) as c:
        yield c


@pytest.fixture(scope="module")
def shared_raw_client(shared_app: SharedApp) -> Iterator[TestClient]:
    """The shared app in-process, server errors answered as a client sees them."""
    app = create_app(shared_app.settings, shared_app.services)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def shared_tenant(shared_app: SharedApp) -> Tenant:
    return shared_app.tenant
