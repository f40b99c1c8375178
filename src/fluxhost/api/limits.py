"""Bounds on request bodies, enforced while reading: a lying or absent Content-Length cannot
make us buffer more than `max_bytes`, and a body that stops arriving (shorter than its
Content-Length, or a client that stalls) is a 408 after `read_timeout` seconds of silence
instead of a connection and a request held open for ever."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.exceptions import HTTPException

Scope = dict[str, Any]


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(status_code=408, detail=f"Request body not received: nothing arrived "
                         f"for {seconds:g} s (is it shorter than its Content-Length?)",
                         headers={"Connection": "close"})


class BodySizeLimit:
    """`max_bytes` for every path but those in `per_path` (path -> their own bound: the LoRA
    upload's, which streams to disk)."""

    def __init__(self, app: Any, max_bytes: int, read_timeout: float = 20.0,
                 per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.per_path = per_path or {}

    def _detail(self, limit: int) -> str:
        return f"Request body too large: the limit is {limit} bytes"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.max_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._reject(send, limit)
                return
        seen = 0

        async def limited_receive() -> Any:
            nonlocal seen
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout)
            except TimeoutError:
                raise BodyTimeout(self.read_timeout) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised into whoever reads the body; the app's handler answers the 413
                    # (FastAPI re-raises HTTPExceptions from body reading as they are).
                    raise HTTPException(status_code=413, detail=self._detail(limit))
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, send: Any, limit: int) -> None:
        body = json.dumps({"detail": self._detail(limit)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
