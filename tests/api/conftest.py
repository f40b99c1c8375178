from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fluxhost.api.app import create_app
from fluxhost.settings import Settings


@pytest.fixture
def client(settings: Settings, services: Any) -> Iterator[TestClient]:
    """The app in-process with no workers: tasks stay queued, for API-only assertions."""
    app = create_app(settings, services)
    with TestClient(app) as c:
        yield c
