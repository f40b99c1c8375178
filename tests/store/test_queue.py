"""The task table as a queue: claims, leases, fencing, recovery, release, and the per-key
active counter that the limit reads."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from fluxhost.store import ApiKey, Store, WebhookDelivery
from fluxhost.store import queue as q
from fluxhost.store.tasks import TooManyActiveTasks, get_task, purge_expired, submit_task

RETAIN = 3600.0


def submit(store: Store, key_id: int, limit: int = 100, **kw: Any) -> str:
    fields: dict[str, Any] = {"endpoint": "flux-pro-finetuned", "params": {"n": 1},
                              "base_url": "http://x", "webhook_url": None,
                              "webhook_secret": None, **kw}
    return submit_task(store, key_id=key_id, active_limit=limit, **fields)


def claim(store: Store, owner: str = "w1", lease: float = 30, attempts: int = 3) -> Any:
    return q.claim(store, owner, lease_seconds=lease, max_attempts=attempts,
                   retention_seconds=RETAIN)


def active(store: Store, key_id: int) -> int:
    with store.read() as s:
        return int(s.scalar(select(ApiKey.active_tasks).where(ApiKey.id == key_id)) or 0)


def test_claims_oldest_first_and_only_once(store: Store, key_id: int) -> None:
    ids = [submit(store, key_id) for _ in range(3)]
    assert [claim(store, f"w{i}").id for i in range(3)] == ids
    assert claim(store) is None


def test_finish_is_fenced_on_the_lease_owner(store: Store, key_id: int) -> None:
    tid = submit(store, key_id)
    claim(store, "w1")
    assert not q.finish(store, tid, "intruder", q.Outcome("Ready"), retention_seconds=RETAIN)
    assert not q.heartbeat(store, tid, "intruder", lease_seconds=30, progress=0.5)
    assert q.heartbeat(store, tid, "w1", lease_seconds=30, progress=0.5)
    assert q.finish(store, tid, "w1", q.Outcome("Ready", result={"a": 1}),
                    retention_seconds=RETAIN)
    task = get_task(store, tid)
    assert task is not None and (task.state, task.status, task.result) == ("done", "Ready",
                                                                           {"a": 1})
    assert not q.finish(store, tid, "w1", q.Outcome("Error"), retention_seconds=RETAIN)


def test_expired_lease_is_reclaimed_then_errors_after_max_attempts(store: Store,
                                                                    key_id: int) -> None:
    tid = submit(store, key_id)
    assert claim(store, "w1", lease=-1, attempts=2).attempts == 1  # lease already expired
    second = claim(store, "w2", lease=-1, attempts=2)
    assert second.id == tid and second.attempts == 2
    assert not q.finish(store, tid, "w1", q.Outcome("Ready"), retention_seconds=RETAIN)
    assert claim(store, "w3", attempts=2) is None  # recovery ended it instead
    task = get_task(store, tid)
    assert task is not None and task.status == "Error"
    assert "max_attempts=2" in task.details["error"]  # type: ignore[index]
    assert active(store, key_id) == 0


def test_release_returns_the_task_without_spending_an_attempt(store: Store,
                                                              key_id: int) -> None:
    tid = submit(store, key_id)
    claim(store, "w1")
    assert q.release(store, tid, "w1")
    task = get_task(store, tid)
    assert task is not None and (task.state, task.attempts, task.lease_owner) == (
        "queued", 0, None)
    assert claim(store, "w2").attempts == 1


def test_active_counter_follows_submit_and_finish(store: Store, key_id: int) -> None:
    first = submit(store, key_id, limit=2)
    submit(store, key_id, limit=2)
    with pytest.raises(TooManyActiveTasks, match="2 of 2"):
        submit(store, key_id, limit=2)
    assert active(store, key_id) == 2
    claim(store, "w1")
    assert active(store, key_id) == 2  # running still counts
    q.finish(store, first, "w1", q.Outcome("Ready"), retention_seconds=RETAIN)
    assert active(store, key_id) == 1
    submit(store, key_id, limit=2)
    assert active(store, key_id) == 2


def test_finish_with_webhook_writes_outbox_in_same_transaction(store: Store,
                                                               key_id: int) -> None:
    tid = submit(store, key_id, webhook_url="http://hook", webhook_secret="s")
    claim(store, "w1")
    q.finish(store, tid, "w1", q.Outcome("Ready"), retention_seconds=RETAIN)
    with store.read() as s:
        rows = list(s.scalars(select(WebhookDelivery)))
    assert [(r.task_id, r.url, r.secret, r.state) for r in rows] == [
        (tid, "http://hook", "s", "pending")]


def test_purge_removes_expired_tasks_and_returns_blobs(store: Store, key_id: int) -> None:
    tid = submit(store, key_id, params={"_input_blobs": {"image": "inputs/a-image.bin"}})
    claim(store, "w1")
    q.finish(store, tid, "w1", q.Outcome("Ready", blob_key="results/a.png"),
             retention_seconds=-1)
    assert get_task(store, tid) is None  # past retention: reads as not found at once
    assert sorted(purge_expired(store, RETAIN)) == ["inputs/a-image.bin", "results/a.png"]
    assert purge_expired(store, RETAIN) == []


def test_concurrent_claims_take_each_task_exactly_once(store: Store, key_id: int) -> None:
    ids = {submit(store, key_id, limit=1000) for _ in range(60)}
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        while (task := claim(store, f"w{n}")) is not None:
            with lock:
                claimed.append(task.id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)


def test_migrations_are_idempotent(store: Store) -> None:
    from fluxhost.store.db import migrate

    migrate(store.engine)  # already at head: nothing to do, no error
