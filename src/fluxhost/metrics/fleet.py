"""Fleet-wide figures, read from the database when an API node is scraped. The task table is
the queue and the outbox is a table, so any node sees the whole fleet's backlog, whichever
processes do the work. Every query reads an index over active rows only (queued and running
tasks: ix_tasks_kind_claim, ix_tasks_claim; pending and dead deliveries: ix_webhook_due; live
workers: ix_workers_last_seen), never the finished tasks kept for retention."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from fluxhost.metrics.kinds import all_kinds, label
from fluxhost.store.models import Task, WebhookDelivery
from fluxhost.store.outage import log_failure
from fluxhost.store.store import Store
from fluxhost.store.workers import live_workers_by_kind

log = logging.getLogger(__name__)

QUEUE_STATES = ("queued", "running")
BACKLOG_STATES = ("pending", "dead")


class FleetCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("fluxhost_database_up",
                               "1 when the database answered this scrape's queries.")
        try:
            families = list(self._families())
        except Exception as exc:
            # A scrape must still answer (and say so) while the database is down.
            log_failure(log, "metrics: database queries failed", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families

    def _families(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        with self.store.read() as s:
            tasks = s.execute(
                select(Task.state, Task.kind, func.count())
                .where(Task.state.in_(QUEUE_STATES)).group_by(Task.state, Task.kind)
            ).all()
            oldest = s.scalar(select(func.min(Task.created_at)).where(Task.state == "queued"))
            deliveries = s.execute(
                select(WebhookDelivery.state, func.count())
                .where(WebhookDelivery.state.in_(BACKLOG_STATES))
                .group_by(WebhookDelivery.state)
            ).all()
        yield _queue_depth(tasks)
        age = GaugeMetricFamily("fluxhost_queue_oldest_age_seconds",
                                "Age of the oldest queued task (0: none queued).")
        age.add_metric([], max(0.0, now - oldest) if oldest is not None else 0.0)
        yield age
        backlog = GaugeMetricFamily(
            "fluxhost_webhook_deliveries",
            "Webhook deliveries by state: pending (the backlog, retries included) and dead "
            "(given up, kept as records for the retention period).", labels=["state"])
        counts = {str(state): int(n) for state, n in deliveries}
        for state in BACKLOG_STATES:
            backlog.add_metric([state], counts.get(state, 0))
        yield backlog
        # Zero for a kind no live process serves: its queued tasks wait (alert on that).
        live = GaugeMetricFamily(
            "fluxhost_workers_live",
            "Worker processes alive (seen in the worker registry within 30 s), by task kind "
            "they serve.", labels=["kind"])
        by_kind = live_workers_by_kind(self.store)
        for kind in all_kinds():
            live.add_metric([kind], by_kind.get(kind, 0))
        yield live
        yield _unserved(tasks, by_kind)


def _queue_depth(rows: Any) -> GaugeMetricFamily:
    depth = GaugeMetricFamily("fluxhost_queue_tasks",
                              "Tasks queued or running, fleet-wide, by pipeline kind.",
                              labels=["state", "kind"])
    counts = {(state, kind): 0 for state in QUEUE_STATES for kind in all_kinds()}
    for state, kind, n in rows:
        counts[(str(state), label(kind))] += int(n)
    for (state, kind), n in sorted(counts.items()):
        depth.add_metric([state, kind], n)
    return depth



def _unserved(rows: Any, live: dict[str, int]) -> GaugeMetricFamily:
    """Queued tasks of a kind no live worker serves: they wait until one starts (the same
    figure as store.workers.unserved_queued_by_kind, from the rows this scrape already read)."""
    unserved = GaugeMetricFamily(
        "fluxhost_queue_unserved_tasks",
        "Queued tasks of a kind that no live worker process serves, by kind.", labels=["kind"])
    counts = dict.fromkeys(all_kinds(), 0)
    for state, kind, n in rows:
        if state == "queued" and not live.get(label(kind), 0):
            counts[label(kind)] += int(n)
    for kind, n in sorted(counts.items()):
        unserved.add_metric([kind], n)
    return unserved
