"""Queued tasks whose kind no live worker serves end Error after the unserved timeout, freeing
their key's active slots; a kind that gets a worker again restarts the clock. On SQLite and
PostgreSQL (the store fixture)."""

from __future__ import annotations

from fluxhost.store import Store
from fluxhost.store import workers as reg
from fluxhost.store.tasks import get_task
from fluxhost.worker.unserved import UnservedWatch
from tests.store.test_claim_kinds import FILL, age, submit_ft
from tests.store.test_queue import RETAIN, active


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_unserved_tasks_end_error_after_the_timeout(store: Store, key_id: int) -> None:
    clock = Clock()
    watch = UnservedWatch(store, timeout=600, retention_seconds=RETAIN, clock=clock)
    served = submit_ft(store, key_id, "a")  # base: a live worker serves it
    old_fill = submit_ft(store, key_id, "b", FILL)
    age(store, old_fill, 700)
    new_fill = submit_ft(store, key_id, "c", FILL)  # waited less than the timeout
    reg.register(store, ["base"])
    assert active(store, key_id) == 3

    assert watch.check() == []  # the clock for "fill" starts now
    clock.now = 599
    assert watch.check() == []
    clock.now = 600
    assert watch.check() == [old_fill]

    task = get_task(store, old_fill)
    assert task is not None and (task.state, task.status) == ("done", "Error")
    assert task.details == {"error": "no worker serves this task's kind 'fill': it waited 600 "
                                     "s with no live worker for it "
                                     "(UNSERVED_TASK_TIMEOUT_SECONDS)"}
    assert active(store, key_id) == 2  # its slot is free
    for task_id in (served, new_fill):
        left = get_task(store, task_id)
        assert left is not None and left.state == "queued"


def test_a_worker_appearing_restarts_the_clock(store: Store, key_id: int) -> None:
    clock = Clock()
    watch = UnservedWatch(store, timeout=600, retention_seconds=RETAIN, clock=clock)
    fill = submit_ft(store, key_id, "b", FILL)
    age(store, fill, 5000)
    assert watch.check() == []
    clock.now = 500
    worker = reg.register(store, ["fill"])  # e.g. a rolling restart brings one back
    assert watch.check() == []
    reg.unregister(store, worker)
    clock.now = 1000  # seen unserved again: the clock starts over
    assert watch.check() == []
    clock.now = 1599
    assert watch.check() == []
    clock.now = 1600
    assert watch.check() == [fill]
