"""The webhook outbox: due deliveries are leased to one dispatcher at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, Update, and_, or_, select, update

from fluxhost.store.models import Task, WebhookDelivery
from fluxhost.store.store import Store

# Due rows are looked at in pages, in due order, until enough are admitted. The cap bounds one
# claim's reading when a large backlog is held back by the dispatcher's limits; rows past it
# wait for a later claim.
SCAN_PAGE = 500
SCAN_LIMIT = 5000


@dataclass(frozen=True)
class Candidate:
    """A due delivery as the dispatcher's limits see it, before it is leased."""

    id: int
    url: str
    key_id: int | None  # None: the task is gone


def claim_due(
    store: Store,
    owner: str,
    *,
    lease_seconds: float,
    limit: int = 16,
    admit: Callable[[Candidate], bool] | None = None,
) -> list[WebhookDelivery]:
    """Lease up to `limit` due deliveries, in due order, skipping those `admit` refuses (they
    stay due, unleased and with their attempt count, for a later claim).

    `admit` is called once per candidate, in due order, until `limit` were admitted; admitted
    candidates that another dispatcher leased first are not returned (the caller undoes what
    admitting them took)."""
    picked = _pick(store, limit, admit or (lambda _candidate: True))
    if not picked:
        return []
    now = store.now()
    with store.write() as s:
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.id.in_(picked), *_claimable(now))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        )
        if store.is_postgres:
            query = query.with_for_update(skip_locked=True)
        rows = list(s.scalars(query))
        for row in rows:
            row.lease_owner = owner
            row.lease_expires_at = now + lease_seconds
            row.attempts += 1
        return rows


def _pick(store: Store, limit: int, admit: Callable[[Candidate], bool]) -> list[int]:
    """Ids of the first due, unleased rows that `admit` takes, at most `limit` of them. Read
    without locks: the lease re-checks every condition."""
    now = store.now()
    picked: list[int] = []
    after: tuple[float, int] | None = None
    scanned = 0
    with store.read() as s:
        while len(picked) < limit and scanned < SCAN_LIMIT:
            page = s.execute(_due_page(now, after)).all()
            for row_id, url, due, key_id in page:
                scanned += 1
                after = (due, row_id)
                if admit(Candidate(row_id, url, key_id)):
                    picked.append(row_id)
                    if len(picked) >= limit:
                        break
            if len(page) < SCAN_PAGE:
                break
    return picked


def _due_page(now: float, after: tuple[float, int] | None) -> Select[int, str, float, int | None]:
    # Rows of (id, url, next_attempt_at, key_id).
    query = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.url,
            WebhookDelivery.next_attempt_at,
            Task.key_id,
        )
        .outerjoin(Task, Task.id == WebhookDelivery.task_id)
        .where(*_claimable(now))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(SCAN_PAGE)
    )
    if after is not None:
        due, row_id = after
        query = query.where(
            or_(
                WebhookDelivery.next_attempt_at > due,
                and_(WebhookDelivery.next_attempt_at == due, WebhookDelivery.id > row_id),
            )
        )
    return query


def _claimable(now: float) -> tuple[ColumnElement[bool], ...]:
    return (
        WebhookDelivery.state == "pending",
        WebhookDelivery.next_attempt_at <= now,
        _unleased(now),
    )


def _unleased(now: float) -> ColumnElement[bool]:
    return or_(
        WebhookDelivery.lease_expires_at.is_(None),
        WebhookDelivery.lease_expires_at < now,
    )


def next_due_at(store: Store, *, after: float | None = None) -> float | None:
    """When the next unleased pending delivery is due (leased ones are another's work); with
    `after`, the next one due later than that (those due earlier are known to be waiting)."""
    now = store.now()
    query = select(WebhookDelivery.next_attempt_at).where(
        WebhookDelivery.state == "pending", _unleased(now)
    )
    if after is not None:
        query = query.where(WebhookDelivery.next_attempt_at > after)
    with store.read() as s:
        return s.scalar(query.order_by(WebhookDelivery.next_attempt_at).limit(1))


def mark_delivered(store: Store, delivery_id: int, owner: str) -> None:
    with store.write() as s:
        s.execute(
            _fenced(delivery_id, owner).values(
                state="delivered",
                delivered_at=store.now(),
                lease_owner=None,
                lease_expires_at=None,
                last_error=None,
            )
        )


def mark_failed(
    store: Store, delivery_id: int, owner: str, *, error: str, retry_in: float | None
) -> None:
    """Schedule the next attempt, or give up (`retry_in=None`): the row stays as a record."""
    values: dict[str, object] = {"last_error": error[:2000], "lease_owner": None,
                                 "lease_expires_at": None}
    if retry_in is None:
        values["state"] = "dead"
    else:
        values["next_attempt_at"] = store.now() + retry_in
    with store.write() as s:
        s.execute(_fenced(delivery_id, owner).values(**values))


def _fenced(delivery_id: int, owner: str) -> Update:
    return update(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.lease_owner == owner
    )
