"""The FastAPI app factory."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException

from fluxhost.api.auth import SECURITY_SCHEMES
from fluxhost.api.errors import error_response
from fluxhost.api.fastpath import SubmitFastPath
from fluxhost.api.limits import BodySizeLimit
from fluxhost.api.routers import delivery, docs, finetunes, generate, health, results
from fluxhost.services import Services, build_services
from fluxhost.settings import Settings

log = logging.getLogger(__name__)


class FluxhostApp(FastAPI):
    """FastAPI, with the submit fast path (api/fastpath.py) in front of its whole stack."""

    _fast: Any = None

    def install_fast_path(self, max_body_bytes: int) -> None:
        self._fast = BodySizeLimit(
            SubmitFastPath(super().__call__, generate.FAST_HANDLERS), max_bytes=max_body_bytes
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._fast is not None:
            scope["app"] = self  # as Starlette does; handlers reach app.state through it
            await self._fast(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings, services: Services | None = None) -> FluxhostApp:
    """An app serving the contract. Embedded workers (settings.workers) start with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from fluxhost.worker.runtime import Runtime

        svc: Services = app.state.services
        runtime = Runtime(svc, workers=settings.workers)
        runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            runtime.stop(grace_seconds=settings.shutdown_grace_seconds)
            svc.submitter.close()

    app = FluxhostApp(
        title="fluxhost: FLUX finetune API",
        version="0.1.0",
        description="Self-hosted FLUX finetune API. Same wire contract as the hosted one.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from routers/docs.py, with no CDN
        redoc_url=None,
    )
    # The settings given win over those the services were built with (tests vary them).
    app.state.services = (
        dataclasses.replace(services, settings=settings) if services else build_services(settings)
    )
    for router in (generate.router, results.router, finetunes.router, delivery.router,
                   health.router, docs.router):
        app.include_router(router)
    _install_error_handlers(app)
    _document_security(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.install_fast_path(settings.max_body_bytes)
    return app


def _document_security(app: FastAPI) -> None:
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base_openapi()
            components = schema.setdefault("components", {})
            components["securitySchemes"] = SECURITY_SCHEMES
            _, defs = models_json_schema(
                [(m, "validation") for m in generate.GENERATION_MODELS],
                ref_template="#/components/schemas/{model}",
            )
            components.setdefault("schemas", {}).update(defs.get("$defs", {}))
            components["schemas"] = dict(sorted(components["schemas"].items()))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc, f"{request.method} {request.url.path}")

    for exc_class in (StarletteHTTPException, RequestValidationError, Exception):
        app.add_exception_handler(exc_class, handle)
