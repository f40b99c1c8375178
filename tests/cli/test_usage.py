"""`fluxhost usage` as an operator runs it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fluxhost.store import Store
from fluxhost.store import queue as q
from fluxhost.store.keys import create_key
from fluxhost.store.tasks import submit_task
from fluxhost.store.usage import FIGURES_PARAM, day_of
from tests.e2e.harness import run_fluxhost

pytestmark = pytest.mark.service


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.service)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Store]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fluxhost.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = Store.open(url)
    yield url, store
    store.dispose()


def run(data: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")}
    env.update(FLUXHOST_DATA_DIR=str(data), FLUXHOST_DATABASE_URL=url)
    return run_fluxhost(["usage", *args], env=env)


def finish(store: Store, key_id: int, endpoint: str, figures: dict[str, object],
           status: str = "Ready", engine: float = 1.5) -> None:
    tid = submit_task(store, key_id=key_id, endpoint=endpoint,
                      params={FIGURES_PARAM: figures}, base_url="http://x", webhook_url=None,
                      webhook_secret=None, active_limit=10)
    task = q.claim(store, "w", lease_seconds=30, max_attempts=3, retention_seconds=60)
    assert task is not None and task.id == tid
    assert q.finish(store, tid, "w", q.Outcome(status), retention_seconds=60,
                    engine_seconds=engine)


def test_usage_prints_rows_totals_and_json(tmp_path: Path,
                                           database: tuple[str, Store]) -> None:
    url, store = database
    ops = create_key(store, "ops")[0].id
    web = create_key(store, "web")[0].id
    finish(store, ops, "flux-pro-finetuned", {"input_mp": 0.0, "output_mp": 1.05, "cost": 3.0})
    finish(store, ops, "flux-pro-finetuned", {"input_mp": 0.0, "output_mp": 1.05, "cost": 3.0},
           status="Error", engine=0.25)
    finish(store, web, "flux-pro-1.0-fill-finetuned",
           {"input_mp": 0.26, "output_mp": 0.26, "cost": None}, engine=2.0)
    today = day_of(store.now())

    table = run(tmp_path, url)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["DAY", "KEY", "ENDPOINT", "TASKS", "IMAGES", "IN_MP",
                                "OUT_MP", "ENGINE_S", "COST"]
    assert lines[1].split() == [today, "ops", "flux-pro-finetuned", "2", "1", "0.00", "1.05",
                                "1.75", "3"]
    assert lines[2].split() == [today, "web", "flux-pro-1.0-fill-finetuned", "1", "1", "0.26",
                                "0.26", "2.00", "-"]
    assert lines[3].split() == ["TOTAL", "3", "2", "0.26", "1.31", "3.75", "3"]

    as_json = run(tmp_path, url, "--json", "--key", "web")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {"key": "web", "day": today, "endpoint": "flux-pro-1.0-fill-finetuned", "tasks": 1,
         "images": 1, "input_mp": 0.26, "output_mp": 0.26, "engine_seconds": 2.0,
         "cost": None}]

    later = run(tmp_path, url, "--since", "2999-01-01", "--json")
    assert later.returncode == 0 and json.loads(later.stdout) == []
    assert len(json.loads(run(tmp_path, url, "--since", today, "--json").stdout)) == 2

    unknown = run(tmp_path, url, "--key", "nobody")
    assert unknown.returncode == 1 and "no key named 'nobody'" in unknown.stderr
    bad = run(tmp_path, url, "--since", "yesterday")
    assert bad.returncode == 2 and "not a date (YYYY-MM-DD)" in bad.stderr
