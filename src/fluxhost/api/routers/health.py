"""GET /health: always 200; the body says whether we are fit to serve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from fluxhost.services import Services
from fluxhost.store.tasks import count_by_state

router = APIRouter(tags=["Ops"])

DEV_MODEL_NOTE = "dev model set: random weights, it draws noise"


@router.get("/health", summary="Health")
def health(request: Request) -> dict[str, Any]:
    svc: Services = request.app.state.services
    db_ok = svc.store.ping()
    body: dict[str, Any] = {
        "status": "ok" if db_ok else "degraded",
        "database": "ok" if db_ok else "unreachable",
        "embedded_workers": svc.settings.workers,
        "models": DEV_MODEL_NOTE if svc.settings.uses_dev_models else dict(svc.settings.models),
    }
    if db_ok:
        counts = count_by_state(svc.store)
        body["queue"] = {"queued": counts.get("queued", 0), "running": counts.get("running", 0)}
    return body
