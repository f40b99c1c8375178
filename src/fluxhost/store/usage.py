"""Per-key usage: images, megapixels, engine seconds and cost, by UTC day and endpoint.

One `usage` row per (key, day, endpoint), added to by `record` inside the transaction that
ends a task (queue._end): the task's end and its usage commit together or not at all, each
task is counted once (the finish is fenced), and the figures outlive the task rows, which the
retention janitor deletes. The upsert is atomic on both databases (INSERT ... ON CONFLICT DO
UPDATE), so concurrent finishes of one key never lose a count.

The megapixels and cost of a task are those its submit answer reported (api/pricing.py stores
them in `params[FIGURES_PARAM]`); its engine seconds are what the worker measured."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fluxhost.store.models import ApiKey, Task, Usage
from fluxhost.store.store import Store

# params[FIGURES_PARAM]: {"input_mp", "output_mp", "cost"} as the submit answer reported them.
FIGURES_PARAM = "_figures"
READY = "Ready"


def day_of(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def record(s: Session, task: Task, status: str, engine_seconds: float | None,
           now: float) -> None:
    """Add a finished task to its key's usage row, in the caller's (finishing) transaction."""
    if task.key_id is None:
        return
    figures = (task.params or {}).get(FIGURES_PARAM) or {}
    ready = status == READY
    values: dict[str, Any] = {
        "key_id": task.key_id,
        "day": day_of(now),
        "endpoint": task.endpoint,
        "tasks": 1,
        "images": 1 if ready else 0,
        "input_mp": (_number(figures.get("input_mp")) or 0.0) if ready else 0.0,
        "output_mp": (_number(figures.get("output_mp")) or 0.0) if ready else 0.0,
        "engine_seconds": max(0.0, engine_seconds or 0.0),
        "cost": _number(figures.get("cost")) if ready else None,
        "updated_at": now,
    }
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Usage).values(**values)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[Usage.key_id, Usage.day, Usage.endpoint],
        set_={
            "tasks": Usage.tasks + new.tasks,
            "images": Usage.images + new.images,
            "input_mp": Usage.input_mp + new.input_mp,
            "output_mp": Usage.output_mp + new.output_mp,
            "engine_seconds": Usage.engine_seconds + new.engine_seconds,
            # NULL + x is NULL: a task without a price leaves the sum as it was.
            "cost": func.coalesce(func.coalesce(Usage.cost, 0.0) + new.cost, Usage.cost),
            "updated_at": new.updated_at,
        },
    )
    s.execute(stmt)


@dataclass(frozen=True)
class UsageRow:
    key: str
    day: str
    endpoint: str
    tasks: int
    images: int
    input_mp: float
    output_mp: float
    engine_seconds: float
    cost: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "day": self.day, "endpoint": self.endpoint, "tasks": self.tasks,
            "images": self.images, "input_mp": round(self.input_mp, 2),
            "output_mp": round(self.output_mp, 2),
            "engine_seconds": round(self.engine_seconds, 3),
            "cost": None if self.cost is None else round(self.cost, 6),
        }


def read_usage(store: Store, *, key: str | None = None, since: str | None = None
               ) -> list[UsageRow]:
    """Usage rows by day, key name and endpoint; only key `key`, only days >= `since`
    (YYYY-MM-DD, UTC)."""
    query = (
        select(ApiKey.name, Usage)
        .join(ApiKey, ApiKey.id == Usage.key_id)
        .order_by(Usage.day, ApiKey.name, Usage.endpoint)
    )
    if key is not None:
        query = query.where(ApiKey.name == key)
    if since is not None:
        query = query.where(Usage.day >= since)
    with store.read() as s:
        return [
            UsageRow(name, u.day, u.endpoint, u.tasks, u.images, u.input_mp, u.output_mp,
                     u.engine_seconds, u.cost)
            for name, u in s.execute(query).tuples()
        ]
