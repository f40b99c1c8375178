"""Per-key usage rows, written in the transaction that finishes a task (SQLite and
PostgreSQL), their survival of the retention purge, and migration 0003 over a 0002 database."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, text

from fluxhost.store import Store
from fluxhost.store import queue as q
from fluxhost.store.keys import create_key
from fluxhost.store.tasks import purge_expired
from fluxhost.store.usage import FIGURES_PARAM, day_of, read_usage
from tests.store.test_claim_kinds import bare_engine, upgrade  # noqa: F401 (fixture)
from tests.store.test_queue import RETAIN, claim, submit

PRO = "flux-pro-finetuned"
FILL = "flux-pro-1.0-fill-finetuned"


def run(store: Store, key_id: int, status: str = "Ready", *, endpoint: str = PRO,
        figures: dict[str, Any] | None = None, engine: float | None = 1.5,
        retention: float = RETAIN) -> str:
    params: dict[str, Any] = {"n": 1}
    if figures is not None:
        params[FIGURES_PARAM] = figures
    tid = submit(store, key_id, endpoint=endpoint, params=params)
    task = claim(store, "w1")
    assert task is not None and task.id == tid
    assert q.finish(store, tid, "w1", q.Outcome(status), retention_seconds=retention,
                    engine_seconds=engine)
    return tid


def rows(store: Store, **kw: Any) -> list[dict[str, Any]]:
    return [r.as_dict() for r in read_usage(store, **kw)]


def test_finished_tasks_add_up_per_key_day_and_endpoint(store: Store, key_id: int) -> None:
    today = day_of(store.now())
    run(store, key_id, figures={"input_mp": 0.0, "output_mp": 1.05, "cost": 3.0}, engine=2.0)
    run(store, key_id, figures={"input_mp": 0.0, "output_mp": 0.5, "cost": 1.5}, engine=1.25)
    # Not Ready: counted as a task with its engine time, no image, megapixels or cost.
    run(store, key_id, "Content Moderated",
        figures={"input_mp": 0.0, "output_mp": 1.0, "cost": 2.0}, engine=0.5)
    run(store, key_id, endpoint=FILL, figures={"input_mp": 0.26, "output_mp": 0.26,
                                               "cost": None}, engine=None)
    assert rows(store) == [
        {"key": "k", "day": today, "endpoint": FILL, "tasks": 1, "images": 1, "input_mp": 0.26,
         "output_mp": 0.26, "engine_seconds": 0.0, "cost": None},
        {"key": "k", "day": today, "endpoint": PRO, "tasks": 3, "images": 2, "input_mp": 0.0,
         "output_mp": 1.55, "engine_seconds": 3.75, "cost": 4.5},
    ]


def test_unpriced_tasks_leave_the_cost_sum_alone(store: Store, key_id: int) -> None:
    run(store, key_id, figures={"input_mp": 0.0, "output_mp": 1.0, "cost": None})
    assert rows(store)[0]["cost"] is None
    run(store, key_id, figures={"input_mp": 0.0, "output_mp": 1.0, "cost": 2.5})
    run(store, key_id, figures={"input_mp": 0.0, "output_mp": 1.0, "cost": None})
    run(store, key_id)  # no figures at all (a task submitted before they existed)
    (row,) = rows(store)
    assert (row["tasks"], row["images"], row["output_mp"], row["cost"]) == (4, 4, 3.0, 2.5)


def test_filters_by_key_and_day(store: Store, key_id: int) -> None:
    other = create_key(store, "other")[0].id
    run(store, key_id, figures={"input_mp": 0.0, "output_mp": 1.0, "cost": 1.0})
    run(store, other, figures={"input_mp": 0.0, "output_mp": 2.0, "cost": 2.0})
    assert [r["key"] for r in rows(store)] == ["k", "other"]
    assert [r["output_mp"] for r in rows(store, key="other")] == [2.0]
    assert rows(store, key="nobody") == []
    assert len(rows(store, since=day_of(store.now()))) == 2
    assert rows(store, since="2999-01-01") == []


def test_usage_survives_the_retention_purge(store: Store, key_id: int) -> None:
    tid = run(store, key_id, figures={"input_mp": 0.0, "output_mp": 1.0, "cost": 1.0},
              retention=-1)
    assert purge_expired(store, RETAIN) == []  # purged (no blobs to return)
    with store.read() as s:
        assert s.execute(text("SELECT count(*) FROM tasks WHERE id = :id"),
                         {"id": tid}).scalar() == 0
    assert [(r["tasks"], r["output_mp"]) for r in rows(store)] == [(1, 1.0)]


def test_a_lost_lease_records_nothing_and_a_task_counts_once(store: Store,
                                                             key_id: int) -> None:
    tid = submit(store, key_id)
    claim(store, "w1")
    assert not q.finish(store, tid, "intruder", q.Outcome("Ready"), retention_seconds=RETAIN)
    assert rows(store) == []
    assert q.finish(store, tid, "w1", q.Outcome("Ready"), retention_seconds=RETAIN)
    assert not q.finish(store, tid, "w1", q.Outcome("Ready"), retention_seconds=RETAIN)
    assert [r["tasks"] for r in rows(store)] == [1]


def test_cancelled_and_lost_tasks_count_as_finished(store: Store, key_id: int) -> None:
    tid = submit(store, key_id)
    assert q.cancel(store, tid, "cancelled")
    (row,) = rows(store)
    assert (row["tasks"], row["images"], row["engine_seconds"]) == (1, 0, 0.0)


def test_concurrent_finishes_of_one_key_lose_no_count(store: Store, key_id: int) -> None:
    n = 8
    ids = [submit(store, key_id, params={FIGURES_PARAM: {"input_mp": 0.0, "output_mp": 0.25,
                                                         "cost": 1.0}}) for _ in range(n)]
    for i in range(n):
        claim(store, f"w{i}")
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def finish(i: int) -> None:
        try:
            barrier.wait()
            assert q.finish(store, ids[i], f"w{i}", q.Outcome("Ready"), retention_seconds=RETAIN,
                            engine_seconds=0.5)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (row,) = rows(store)
    assert (row["tasks"], row["images"], row["output_mp"], row["engine_seconds"],
            row["cost"]) == (n, n, 2.0, 4.0, 8.0)


def test_migration_0003_upgrades_a_0002_database(bare_engine: Engine) -> None:  # noqa: F811
    upgrade(bare_engine, "0002")
    with bare_engine.begin() as conn:
        conn.execute(text("INSERT INTO api_keys (name, key_hash, prefix, created_at, "
                          "active_tasks) VALUES ('old', 'h', 'p', 1.0, 1)"))
        key_id = conn.execute(text("SELECT id FROM api_keys WHERE name = 'old'")).scalar()
        conn.execute(text(
            "INSERT INTO tasks (id, key_id, endpoint, params, base_url, state, status, "
            "attempts, created_at, kind) VALUES ('t1', :k, :e, '{\"n\": 1}', 'http://x', "
            "'queued', 'Pending', 0, 1.0, 'base')"), {"k": key_id, "e": PRO})
    upgrade(bare_engine, "head")
    migrated = Store(bare_engine)
    assert read_usage(migrated) == []
    # A task queued before the upgrade (no figures on it) finishes into the new table.
    task = claim(migrated, "w1")
    assert task is not None and task.id == "t1"
    assert q.finish(migrated, "t1", "w1", q.Outcome("Ready"), retention_seconds=RETAIN,
                    engine_seconds=2.0)
    assert [(r["key"], r["tasks"], r["images"], r["engine_seconds"])
            for r in rows(migrated)] == [("old", 1, 1, 2.0)]
