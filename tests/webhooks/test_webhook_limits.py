"""The dispatcher's in-flight limits, the target key they count by, and the outbox claim that
skips rows the limits refuse (real SQLite store)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from fluxhost.store import outbox
from fluxhost.store.models import Task, WebhookDelivery
from fluxhost.store.store import Store
from fluxhost.webhooks.limits import InflightLimits
from fluxhost.webhooks.targets import target_key

# The conftest's helper fixtures, typed here (conftest is not imported: any import mode works).
FinishedTask = Callable[..., str]
DeliveryOf = Callable[[str], WebhookDelivery]

# --- InflightLimits --------------------------------------------------------------------------


def test_per_target_limit_and_release() -> None:
    limits = InflightLimits(total=10, per_target=2, per_key=10)
    first = limits.try_acquire("a:80", 1)
    second = limits.try_acquire("a:80", 2)
    assert first is not None and second is not None
    assert limits.try_acquire("a:80", 3) is None  # the target is full, whichever key
    assert limits.try_acquire("b:80", 1) is not None  # other targets are not
    assert limits.in_flight("a:80") == 2 and limits.in_flight() == 3
    limits.release(first)
    assert limits.try_acquire("a:80", 3) is not None


def test_per_key_limit_spans_targets() -> None:
    limits = InflightLimits(total=10, per_target=5, per_key=2)
    assert limits.try_acquire("a:1", 7) is not None
    slot = limits.try_acquire("a:2", 7)
    assert slot is not None
    assert limits.try_acquire("a:3", 7) is None  # a third target of the same key
    assert limits.try_acquire("a:3", 8) is not None  # another key
    limits.release(slot)
    assert limits.try_acquire("a:3", 7) is not None


def test_total_limit_and_free() -> None:
    limits = InflightLimits(total=2, per_target=2, per_key=2)
    assert limits.free() == 2
    slots = [limits.try_acquire("a:1", 1), limits.try_acquire("b:1", 2)]
    assert limits.free() == 0
    assert limits.try_acquire("c:1", 3) is None
    for slot in slots:
        assert slot is not None
        limits.release(slot)
    assert limits.free() == 2 and limits.in_flight() == 0


def test_deliveries_of_a_gone_task_count_against_no_key() -> None:
    limits = InflightLimits(total=5, per_target=5, per_key=1)
    assert limits.try_acquire("a:1", None) is not None
    assert limits.try_acquire("a:1", None) is not None


def test_release_of_an_unknown_slot_names_the_target() -> None:
    limits = InflightLimits(total=2, per_target=1, per_key=1)
    slot = limits.try_acquire("a:1", 1)
    assert slot is not None
    limits.release(slot)
    with pytest.raises(ValueError, match="'a:1'"):
        limits.release(slot)


@pytest.mark.parametrize("name", ["total", "per_target", "per_key"])
def test_limits_must_be_positive(name: str) -> None:
    values = {"total": 1, "per_target": 1, "per_key": 1, name: 0}
    with pytest.raises(ValueError, match=f"{name} must be at least 1, not 0"):
        InflightLimits(**values)


# --- target_key ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://Hooks.Example.COM/a?token=1", "hooks.example.com:80"),
        ("http://hooks.example.com:80/b", "hooks.example.com:80"),
        ("https://hooks.example.com./c", "hooks.example.com:443"),
        ("https://hooks.example.com:8443/", "hooks.example.com:8443"),
        ("http://[::1]:9000/x", "[::1]:9000"),
        ("ftp://hooks.example.com/", "ftp://hooks.example.com/"),  # refused later, no connect
    ],
)
def test_target_key_is_host_and_port(url: str, key: str) -> None:
    assert target_key(url) == key


# --- outbox.claim_due with admit -------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The claim runs on both databases (PostgreSQL leases with SKIP LOCKED)."""
    url = f"sqlite:///{tmp_path}/t.db"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    st = Store.open(url)
    yield st
    st.dispose()



def test_refused_rows_stay_due_and_unleased(
    store: Store, finished_task: FinishedTask, delivery_of: DeliveryOf
) -> None:
    held = [finished_task("http://slow.example/hook") for _ in range(3)]
    other = finished_task("http://fast.example/hook")
    seen: list[outbox.Candidate] = []

    def admit(candidate: outbox.Candidate) -> bool:
        seen.append(candidate)
        return "fast" in candidate.url

    rows = outbox.claim_due(store, "d1", lease_seconds=60, limit=4, admit=admit)

    assert [row.task_id for row in rows] == [other]
    assert (rows[0].attempts, rows[0].lease_owner) == (1, "d1")
    assert len(seen) == 4  # every due row was offered, in due order
    for task_id in held:
        row = delivery_of(task_id)
        assert (row.state, row.attempts, row.lease_owner) == ("pending", 0, None)
    # Still due: a claim that admits them takes them.
    again = outbox.claim_due(store, "d1", lease_seconds=60, limit=10, admit=lambda c: True)
    assert sorted(row.task_id for row in again) == sorted(held)


def test_admit_gets_the_key_of_the_task(
    store: Store, finished_task: FinishedTask
) -> None:
    task_id = finished_task("http://a.example/hook")
    with store.read() as s:
        key_id = s.get(Task, task_id).key_id  # type: ignore[union-attr]
    gone = finished_task("http://b.example/hook")
    with store.write() as s:
        s.execute(delete(Task).where(Task.id == gone))
    seen: dict[str, int | None] = {}

    def admit(candidate: outbox.Candidate) -> bool:
        seen[candidate.url] = candidate.key_id
        return False

    assert outbox.claim_due(store, "d1", lease_seconds=60, admit=admit) == []
    assert seen == {"http://a.example/hook": key_id, "http://b.example/hook": None}


def test_rows_past_a_page_of_refused_rows_are_reached(
    store: Store, finished_task: FinishedTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "SCAN_PAGE", 2)
    for _ in range(5):
        finished_task("http://slow.example/hook")
    last = finished_task("http://fast.example/hook")
    rows = outbox.claim_due(
        store, "d1", lease_seconds=60, limit=1, admit=lambda c: "fast" in c.url
    )
    assert [row.task_id for row in rows] == [last]


def test_admitted_row_leased_elsewhere_meanwhile_is_not_returned(
    store: Store, finished_task: FinishedTask, delivery_of: DeliveryOf
) -> None:
    first = finished_task("http://a.example/hook")
    second = finished_task("http://b.example/hook")

    def admit(candidate: outbox.Candidate) -> bool:
        if candidate.url.startswith("http://a."):
            # Another dispatcher leases it between this one's pick and its lease.
            taken = outbox.claim_due(store, "d2", lease_seconds=60, limit=1)
            assert [row.task_id for row in taken] == [first]
        return True

    rows = outbox.claim_due(store, "d1", lease_seconds=60, limit=2, admit=admit)

    assert [row.task_id for row in rows] == [second]
    assert (delivery_of(first).lease_owner, delivery_of(first).attempts) == ("d2", 1)


def test_leased_rows_are_not_offered(store: Store, finished_task: FinishedTask) -> None:
    finished_task("http://a.example/hook")
    assert len(outbox.claim_due(store, "d1", lease_seconds=60)) == 1
    offered: list[outbox.Candidate] = []

    def admit(candidate: outbox.Candidate) -> bool:
        offered.append(candidate)
        return True

    assert outbox.claim_due(store, "d2", lease_seconds=60, admit=admit) == []
    assert offered == []
    with store.read() as s:
        assert s.query(WebhookDelivery).count() == 1
