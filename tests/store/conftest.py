"""Every store test runs on the embedded default and on the scale-out engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fluxhost.store import Store
from fluxhost.store.keys import create_key


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.service)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on SQLite, then on a real PostgreSQL (tests/pg.py)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'q.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = Store.open(url)
    yield s
    s.dispose()


@pytest.fixture
def key_id(store: Store) -> int:
    return create_key(store, "k")[0].id
