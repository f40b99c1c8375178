"""GET /metrics: Prometheus text format. This process's own counters and histograms (its
embedded workers', its webhook dispatcher's), its readiness, and the fleet-wide figures read
from the database at scrape time (fluxhost.metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from fluxhost.api.routers.health import readiness
from fluxhost.metrics.fleet import FleetCollector
from fluxhost.metrics.runtime import RuntimeCollector
from fluxhost.services import Services

router = APIRouter(tags=["Ops"])


@router.get(
    "/metrics",
    summary="Metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                     "description": "Prometheus text exposition format"}},
)
def metrics(request: Request) -> Response:
    """Unauthenticated, like /health and /ready: it tells queue sizes and counts, nothing of any
    task or key. Restrict it at the proxy if those are private."""
    app = request.app
    svc: Services = app.state.services
    # Built per scrape (a few objects): the collectors read this app's store and runtime, and
    # the process-wide default registry holds only process figures.
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(FleetCollector(svc.store))
    scrape.register(RuntimeCollector(getattr(app.state, "runtime", None),
                                     lambda: not readiness(app)[1]))
    return Response(generate_latest(REGISTRY) + generate_latest(scrape),
                    media_type=CONTENT_TYPE_LATEST)
