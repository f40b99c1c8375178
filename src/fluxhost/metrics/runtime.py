"""What this process's runtime serves, read at scrape time: worker threads by pipeline kind
and whether they are ready. Summed over processes, the threads are the fleet's (without the
worker registry table, that is how to count live workers: see fleet.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class RuntimeCollector(Collector):
    def __init__(self, runtime: Any, ready: Callable[[], bool]) -> None:
        self.runtime = runtime
        self.ready = ready

    def collect(self) -> Iterator[GaugeMetricFamily]:
        threads = GaugeMetricFamily(
            "fluxhost_process_workers",
            "Worker threads of this process, by pipeline kind they serve.", labels=["kind"])
        for kind, n in sorted(process_workers_by_kind(self.runtime).items()):
            threads.add_metric([kind], n)
        yield threads
        ready = GaugeMetricFamily(
            "fluxhost_ready", "1 when this process is ready (as GET /ready answers 200).")
        ready.add_metric([], 1.0 if self.ready() else 0.0)
        yield ready


def process_workers_by_kind(runtime: Any) -> dict[str, int]:
    """Kind -> worker threads of `runtime` that serve it (none before it started)."""
    if runtime is None or runtime.engine is None or not runtime.workers:
        return {}
    # A runtime limited to some kinds (`fluxhost worker --kinds`) says which; else every kind
    # the engine's model set has.
    kinds = getattr(runtime, "kinds", None) or runtime.engine.available_kinds()
    return dict.fromkeys(kinds, len(runtime.workers))
