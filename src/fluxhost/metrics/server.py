"""The metrics server of a `fluxhost worker` process (`--metrics-port`): this process's
counters and histograms, its worker threads and readiness. Fleet-wide figures are not served
here: they come from the database, once, through an API node's /metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, start_http_server

from fluxhost.metrics.runtime import RuntimeCollector


def serve_process_metrics(runtime: Any, port: int, addr: str = "0.0.0.0") -> None:
    """Serve GET /metrics on `port` from a daemon thread. Raises OSError if the port is taken."""
    REGISTRY.register(RuntimeCollector(runtime, lambda: runtime.readiness().ready))
    start_http_server(port, addr=addr)
