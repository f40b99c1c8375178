"""The FastAPI app factory."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OpenAPI
from fastapi.responses import Response
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from fluxhost.api.auth import SECURITY_SCHEMES
from fluxhost.api.body import BODY_MODELS
from fluxhost.api.errors import error_response, send_internal_error
from fluxhost.api.fastpath import SubmitFastPath
from fluxhost.api.imagefetch import ImageFetcher
from fluxhost.api.images import DecodeLimiter
from fluxhost.api.limits import BodySizeLimit
from fluxhost.api.routers import (
    delivery,
    docs,
    finetunes,
    generate,
    health,
    loras,
    metrics,
    playground,
    results,
)
from fluxhost.services import Services, build_services
from fluxhost.settings import Settings
from fluxhost.store.store import WriteBusy
from fluxhost.store.tasks import SubmissionRejected

log = logging.getLogger(__name__)


class FluxhostApp(FastAPI):
    """FastAPI, with the submit fast path (api/fastpath.py) in front of its whole stack, and a
    last-resort guard in front of both."""

    _fast: Any = None

    def install_fast_path(self, max_body_bytes: int, read_timeout: float) -> None:
        self._fast = BodySizeLimit(
            SubmitFastPath(super().__call__, generate.FAST_HANDLERS), max_bytes=max_body_bytes,
            read_timeout=read_timeout,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # as Starlette does; handlers reach app.state through it
        inner = self._fast if self._fast is not None else super().__call__
        started = False

        async def tracked_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await inner(scope, receive, tracked_send)
        except Exception:
            # Starlette's own guard answers inside FastAPI's stack and re-raises (started is
            # then true); this one covers the fast path and a failing exception handler, so a
            # client never gets the server's plain-text 500.
            if started:
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await send_internal_error(send)


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
            if app.state.image_urls is not None:
                app.state.image_urls.close()

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
    app.state.decodes = DecodeLimiter(settings.decode_threads, settings.decode_threads_per_key)
    # Image URLs: None when fetching is off (a URL is then refused, api/images.py). Their own
    # threads: a slow server must not hold the ones images are decoded on.
    app.state.image_urls = (ImageFetcher.from_settings(settings) if settings.image_url_fetch
                            else None)
    app.state.fetches = DecodeLimiter(settings.image_url_threads,
                                      settings.image_url_threads_per_key)
    app.state.served_kinds = settings.served_kinds()
    for router in (generate.router, results.router, finetunes.router, loras.router,
                   delivery.router, health.router, metrics.router, docs.router,
                   playground.router):
        app.include_router(router)
    _install_error_handlers(app)
    _document_security(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       read_timeout=settings.body_read_timeout_seconds,
                       per_path={loras.UPLOAD_PATH: settings.lora_upload_max_mb * 1024 * 1024})
    app.install_fast_path(settings.max_body_bytes, settings.body_read_timeout_seconds)
    return app


def _document_security(app: FastAPI) -> None:
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base_openapi()
            components = schema.setdefault("components", {})
            components["securitySchemes"] = SECURITY_SCHEMES
            _, defs = models_json_schema(
                [(m, "validation") for m in BODY_MODELS],
                ref_template="#/components/schemas/{model}",
            )
            components.setdefault("schemas", {}).update(defs.get("$defs", {}))
            components["schemas"] = dict(sorted(components["schemas"].items()))
            # Through FastAPI's own OpenAPI model, as its part was: bounds render as floats
            # (`"maximum": 6.0`) in the added schemas too, as in the provider's document.
            app.openapi_schema = jsonable_encoder(OpenAPI(**schema), by_alias=True,
                                                  exclude_none=True)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> Response:
        return error_response(exc, f"{request.method} {request.url.path}")

    # WriteBusy and SubmissionRejected by name: a 503 or 400 is an answer, not a crash (the
    # `Exception` catch-all re-raises, and the server logs a traceback). The database errors
    # too: an unreachable database is a 503 (errors.py), any other is logged there.
    for exc_class in (StarletteHTTPException, RequestValidationError, WriteBusy,
                      SubmissionRejected, OperationalError, InterfaceError, PoolTimeout,
                      DisconnectionError, Exception):
        app.add_exception_handler(exc_class, handle)
