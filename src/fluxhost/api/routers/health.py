"""GET /health: liveness, always 200; the body says whether we are fit to serve.
GET /ready: readiness, 200 or 503 with a reason, for load balancers and orchestrators."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from fluxhost import catalog
from fluxhost.engine.demo import DEMO_MODEL_NOTE
from fluxhost.kinds import AUXILIARY_PIPELINES
from fluxhost.services import Services
from fluxhost.settings import Settings
from fluxhost.store.schema import behind_message, schema_head
from fluxhost.store.tasks import count_by_state

__all__ = ["readiness", "router", "schema_head"]

router = APIRouter(tags=["Ops"])

DEV_MODEL_NOTE = "dev model set: random weights, it draws noise"
# /health's `model_set`: what runs, for a client to say so (the playground's banner).
DEV_SET, DEMO_SET, CONFIGURED_SET = "dev", "emoji64", "configured"
READY = "ready"
NOT_READY = "not ready"


@router.get("/health", summary="Health")
def health(request: Request) -> dict[str, Any]:
    svc: Services = request.app.state.services
    db_ok = svc.store.ping()
    body: dict[str, Any] = {
        "status": "ok" if db_ok else "degraded",
        "database": "ok" if db_ok else "unreachable",
        "embedded_workers": svc.settings.workers,
        "models": (DEV_MODEL_NOTE if svc.settings.uses_dev_models
                   else DEMO_MODEL_NOTE if svc.settings.uses_demo_models
                   else svc.settings.model_dump(mode="json", include={"models"},
                                                exclude_none=True)["models"]),
        "model_set": model_set_name(svc.settings),
        "modes": kind_modes(svc.settings),
    }
    if db_ok:
        counts = count_by_state(svc.store)
        body["queue"] = {"queued": counts.get("queued", 0), "running": counts.get("running", 0)}
    return body


def kind_modes(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each served kind's memory and speed modes (its FLUXHOST_MODELS entry over the
    FLUXHOST_* defaults): transformer_quant, text_encoder_quant, gguf, first_block_cache,
    compile, attention_backend. Redux has no transformer, hence no modes."""
    return {kind: asdict(settings.modes_for(kind)) for kind in sorted(settings.served_kinds())
            if settings.kind_pipeline(kind) not in AUXILIARY_PIPELINES}


def model_set_name(settings: Settings) -> str:
    """'dev' (random weights: noise), 'emoji64' (the shipped demo) or 'configured' (weights
    from FLUXHOST_MODELS). Named explicitly so a client need not guess from `models`' shape."""
    if settings.uses_dev_models:
        return DEV_SET
    return DEMO_SET if settings.uses_demo_models else CONFIGURED_SET


@router.get(
    "/ready",
    summary="Readiness",
    responses={
        200: {"description": "Ready: the database is reachable at this build's schema and the "
                             "embedded workers' models are loaded"},
        503: {"description": "Not ready; `reason` says why"},
    },
)
def ready(request: Request) -> JSONResponse:
    """Every node: the database answers and its schema is this build's head (an API-only node,
    `--workers 0`, checks only that). With embedded workers also: the warm-up load finished and
    no model's last load attempt failed."""
    body, problems = readiness(request.app)
    body = {"status": NOT_READY if problems else READY,
            **({"reason": "; ".join(problems)} if problems else {}), **body}
    return JSONResponse(body, status_code=503 if problems else 200)


def readiness(app: Any) -> tuple[dict[str, Any], list[str]]:
    """/ready's body and its problems (none: ready). Also the `fluxhost_ready` gauge."""
    svc: Services = app.state.services
    body, problems = _database_state(svc)
    body["embedded_workers"] = svc.settings.workers
    body["endpoints"], unserved = served_endpoints(svc.settings)
    if unserved:
        body["endpoints_unserved"] = unserved
    if svc.settings.workers > 0:
        problems += _worker_state(app, body)
    return body, problems


def served_endpoints(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """The generation endpoints whose pipeline kind (FLUXHOST_ENDPOINT_KINDS over the default
    mapping) the configured model set has, and the others with the kind they lack: their
    submissions are accepted and wait, unserved (`fluxhost_queue_unserved_tasks`)."""
    from fluxhost.engine.modelset import configured_kinds

    kinds = configured_kinds(settings)
    served: list[str] = []
    unserved: dict[str, str] = {}
    for record in catalog.ENDPOINTS:
        kind = settings.endpoint_kind(record.name)
        if kind in kinds:
            served.append(record.path)
        else:
            unserved[record.path] = kind
    return served, unserved


def _database_state(svc: Services) -> tuple[dict[str, Any], list[str]]:
    try:
        with svc.store.read() as session:
            revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        # Either no database or no schema in it; the ping tells which.
        if not svc.store.ping():
            return {"database": "unreachable"}, ["database unreachable"]
        return {"database": "ok", "schema": None}, ["database has no fluxhost schema"]
    body: dict[str, Any] = {"database": "ok", "schema": revision}
    # Another node migrated further, or this one could not migrate: either way the queries
    # of this build may not match the tables.
    problem = behind_message(revision)
    return body, [problem] if problem else []


def _worker_state(app: Any, body: dict[str, Any]) -> list[str]:
    runtime = getattr(app.state, "runtime", None)
    if runtime is None:
        return ["workers not started"]
    state = runtime.readiness()
    body["models"] = state.models
    return [] if state.ready else [state.reason or "workers not ready"]
