"""Run the same call on `Client` and `AsyncClient` against scripted answers.

The clients' pauses go to a fake clock: tests see what the client asked to wait (Retry-After,
backoff) and deadlines pass without real time passing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

from fluxhost.client import AsyncClient, Client

Handler = Callable[[httpx.Request], httpx.Response]
BASE = "http://api.test"


def script(*answers: httpx.Response | Exception) -> Handler:
    """A handler giving `answers` in order (raising the exceptions), then failing the test."""
    pending: Iterator[httpx.Response | Exception] = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(pending, None)
        assert answer is not None, f"unexpected extra request {request.method} {request.url}"
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


class Harness:
    """One flavour ("sync" or "async") of client, with the requests it sent and the pauses it
    asked for."""

    def __init__(self, flavour: str, handler: Handler, **options: Any) -> None:
        self.flavour = flavour
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self._options = {"api_key": "k", **options}

        def recording(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return handler(request)

        self._transport = httpx.MockTransport(recording)

    def now(self) -> float:
        return sum(self.sleeps)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`client.<method>(*args, **kwargs)` on a fresh client; awaited for async."""
        if self.flavour == "sync":
            with Client(BASE, transport=self._transport, **self._options) as client:
                client._sleep = self.sleeps.append
                client._clock = self.now
                return getattr(client, method)(*args, **kwargs)
        return asyncio.run(self._acall(method, args, kwargs))

    async def _acall(self, method: str, args: Iterable[Any], kwargs: dict[str, Any]) -> Any:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        async with AsyncClient(BASE, transport=self._transport, **self._options) as client:
            client._sleep = sleep
            client._clock = self.now
            return await getattr(client, method)(*args, **kwargs)

    @property
    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]
