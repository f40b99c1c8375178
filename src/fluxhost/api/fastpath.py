"""The submit fast path: POSTs to the generation endpoints go straight to their handlers.

FastAPI's routing and per-request machinery cost more than the submission itself, so this ASGI
layer dispatches those exact paths (one per catalog endpoint) directly: about 1.5x the submit
throughput of the same server without it (bench/overhead.py measures both in one run). The routes
stay registered with FastAPI for /openapi.json and /docs; the handlers are the same functions,
and errors become responses through the same `error_response` as everywhere else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fluxhost.api.errors import error_response

Handler = Callable[[Request], Awaitable[Response]]


class SubmitFastPath:
    def __init__(self, app: Any, handlers: dict[str, Handler]) -> None:
        self.app = app
        self.handlers = handlers

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        handler = None
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.handlers.get(scope["path"])
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except Exception as exc:
            response = error_response(exc, f"POST {scope['path']}")
        await response(scope, receive, send)
