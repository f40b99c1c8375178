"""The webhook outbox: due deliveries are leased to one dispatcher at a time."""

from __future__ import annotations

from sqlalchemy import Update, or_, select, update

from fluxhost.store.models import WebhookDelivery
from fluxhost.store.store import Store


def claim_due(
    store: Store, owner: str, *, lease_seconds: float, limit: int = 16
) -> list[WebhookDelivery]:
    now = store.now()
    with store.write() as s:
        query = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(
                    WebhookDelivery.lease_expires_at.is_(None),
                    WebhookDelivery.lease_expires_at < now,
                ),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        if store.is_postgres:
            query = query.with_for_update(skip_locked=True)
        rows = list(s.scalars(query))
        for row in rows:
            row.lease_owner = owner
            row.lease_expires_at = now + lease_seconds
            row.attempts += 1
        return rows


def next_due_at(store: Store) -> float | None:
    """When the next unleased pending delivery is due (leased ones are another's work)."""
    now = store.now()
    with store.read() as s:
        return s.scalar(
            select(WebhookDelivery.next_attempt_at)
            .where(
                WebhookDelivery.state == "pending",
                or_(
                    WebhookDelivery.lease_expires_at.is_(None),
                    WebhookDelivery.lease_expires_at < now,
                ),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(1)
        )


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
