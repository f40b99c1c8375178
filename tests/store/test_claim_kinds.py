"""Claims by pipeline kind, adapter affinity with its starvation bound, the worker registry,
NOTIFY on submit, and migration 0002 over a 0001 database with rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text, update

from fluxhost.store import Store, Task
from fluxhost.store import queue as q
from fluxhost.store import workers as reg
from fluxhost.store.db import make_engine
from fluxhost.store.tasks import NOTIFY_CHANNEL, get_task
from tests.store.test_queue import RETAIN, submit

FILL = "flux-pro-1.0-fill-finetuned"
AFFINITY = q.Affinity(window=4, max_wait_seconds=60)


def claim(store: Store, **kw: Any) -> Any:
    return q.claim(store, "w", lease_seconds=30, max_attempts=3, retention_seconds=RETAIN,
                   **kw)


def submit_ft(store: Store, key_id: int, finetune: str,
              endpoint: str = "flux-pro-finetuned") -> str:
    return submit(store, key_id, endpoint=endpoint, params={"finetune_id": finetune})


def age(store: Store, task_id: str, seconds: float) -> None:
    with store.write() as s:
        s.execute(update(Task).where(Task.id == task_id)
                  .values(created_at=Task.created_at - seconds))


def test_rows_carry_kind_and_finetune(store: Store, key_id: int) -> None:
    base = get_task(store, submit_ft(store, key_id, "ft-a"))
    fill = get_task(store, submit_ft(store, key_id, "ft-b", FILL))
    training = get_task(store, submit(store, key_id, endpoint="finetune",
                                      params={"finetune_id": "x"}))
    assert base is not None and (base.kind, base.finetune_id) == ("base", "ft-a")
    assert fill is not None and (fill.kind, fill.finetune_id) == ("fill", "ft-b")
    assert training is not None and (training.kind, training.finetune_id) == ("training", None)


def test_a_worker_claims_only_the_kinds_it_serves(store: Store, key_id: int) -> None:
    base = submit_ft(store, key_id, "a")
    fill = submit_ft(store, key_id, "a", FILL)
    training = submit(store, key_id, endpoint="finetune")
    assert claim(store, kinds={"fill"}).id == fill
    assert claim(store, kinds={"fill", "canny"}) is None
    assert claim(store, kinds={"training"}).id == training
    assert claim(store, kinds={"base", "fill"}).id == base


def test_affinity_prefers_a_resident_finetune(store: Store, key_id: int) -> None:
    a, b, c = (submit_ft(store, key_id, ft) for ft in ("a", "b", "c"))
    assert claim(store, resident={"c"}, affinity=AFFINITY).id == c
    assert claim(store, resident={"zzz"}, affinity=AFFINITY).id == a  # none resident: oldest
    assert claim(store, resident={"c"}, affinity=q.NO_AFFINITY).id == b  # affinity off


def test_affinity_looks_only_within_the_window(store: Store, key_id: int) -> None:
    ids = [submit_ft(store, key_id, ft) for ft in ("a", "b", "c", "d", "e")]
    assert claim(store, resident={"e"}, affinity=AFFINITY).id == ids[0]  # e is 5th, window 4
    assert claim(store, resident={"e"}, affinity=AFFINITY).id == ids[4]  # now within it


def test_affinity_never_skips_a_task_past_the_wait_bound(store: Store,
                                                         key_id: int) -> None:
    old = submit_ft(store, key_id, "a")
    warm = submit_ft(store, key_id, "b")
    age(store, old, 61)  # waited past max_wait_seconds=60
    assert claim(store, resident={"b"}, affinity=AFFINITY).id == old
    assert claim(store, resident={"b"}, affinity=AFFINITY).id == warm


def test_affinity_respects_kinds(store: Store, key_id: int) -> None:
    base = submit_ft(store, key_id, "a")
    submit_ft(store, key_id, "b", FILL)
    assert claim(store, kinds={"base"}, resident={"b"}, affinity=AFFINITY).id == base


def test_choose_rule() -> None:
    now = 1000.0
    cands = [q.Candidate(str(i), f"ft{i}", now - 5 + i) for i in range(6)]
    rule = q.Affinity(window=3, max_wait_seconds=10)
    assert q.choose(cands, {"ft2"}, now, rule).id == "2"
    assert q.choose(cands, {"ft3"}, now, rule).id == "0"  # outside the window
    assert q.choose(cands, set(), now, rule).id == "0"
    assert q.choose(cands, {"ft2"}, now + 6, rule).id == "0"  # the oldest waited 11 s


def test_registry_reports_unserved_kinds(store: Store, key_id: int) -> None:
    submit_ft(store, key_id, "a")
    submit_ft(store, key_id, "a")
    submit_ft(store, key_id, "a", FILL)
    fill_worker = reg.register(store, ["fill"])
    assert reg.live_workers_by_kind(store) == {"fill": 1}
    assert reg.unserved_queued_by_kind(store) == {"base": 2}
    base_worker = reg.register(store, ["base", "fill"])
    assert reg.live_workers_by_kind(store) == {"fill": 2, "base": 1}
    assert reg.unserved_queued_by_kind(store) == {}
    time.sleep(0.05)
    assert reg.touch(store, fill_worker)
    assert reg.live_workers_by_kind(store, within_seconds=0.04) == {"fill": 1}
    reg.unregister(store, base_worker)
    assert not reg.touch(store, base_worker)
    assert reg.unserved_queued_by_kind(store) == {"base": 2}


@pytest.mark.service
def test_submit_notifies_listeners_on_commit(pg_url: str, key_id: int,
                                             store: Store) -> None:
    import psycopg

    if not store.is_postgres:
        pytest.skip("NOTIFY is PostgreSQL's")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        submit_ft(store, key_id, "a", FILL)
        got = [n.payload for n in conn.notifies(timeout=5, stop_after=1)]
    assert got == ["fill"]


# --- migration 0002 -------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.service)])
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def upgrade(engine: Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from fluxhost.store.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def test_migration_0002_upgrades_a_0001_database_with_rows(bare_engine: Engine) -> None:
    upgrade(bare_engine, "0001")
    rows = [("t1", "flux-pro-1.0-fill-finetuned", '{"finetune_id": "ft-1"}', "queued"),
            ("t2", "flux-pro-1.1-ultra-finetuned", '{"finetune_id": "ft-2"}', "running"),
            ("t3", "finetune", '{"trigger_word": "TOK"}', "queued"),
            ("t4", "flux-pro-1.0-depth-finetuned", '{"finetune_id": "ft-4"}', "done")]
    with bare_engine.begin() as conn:
        for tid, endpoint, params, state in rows:
            conn.execute(text(
                "INSERT INTO tasks (id, endpoint, params, base_url, state, status, attempts,"
                " created_at) VALUES (:id, :e, :p, 'http://x', :s, 'Pending', 0, 1.0)"),
                {"id": tid, "e": endpoint, "p": params, "s": state})
    upgrade(bare_engine, "head")
    with bare_engine.connect() as conn:
        got = conn.execute(text("SELECT id, kind, finetune_id FROM tasks ORDER BY id")).all()
        assert conn.execute(text("SELECT count(*) FROM workers")).scalar() == 0
    assert [tuple(r) for r in got] == [("t1", "fill", "ft-1"), ("t2", "base", "ft-2"),
                                       ("t3", "training", None), ("t4", "depth", None)]
    migrated = Store(bare_engine)
    assert claim(migrated, kinds={"fill"}).id == "t1"
