"""The asyncio client: runs the shared flows (`_flows`) on `httpx.AsyncClient`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from fluxhost.client import _flows
from fluxhost.client._base import (
    ClientBase,
    finetune_body,
    generate_body,
    plain_body,
    typed_body,
    upload_call,
)
from fluxhost.client._protocol import Call
from fluxhost.client.models import FinetuneSubmission, Result, Sample, Submission
from fluxhost.wire.flux2_finetuned import FinetuneUploaded

T = TypeVar("T")


class AsyncClient(ClientBase[Coroutine[Any, Any, Submission]]):
    """`Client` for asyncio: the same methods and defaults, each to be awaited; an async
    context manager. See `Client` for what each method does."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_interval: float = 0.5,
        max_poll_interval: float = 5.0,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, max_retries=max_retries,
                         poll_interval=poll_interval, max_poll_interval=max_poll_interval)
        self._http = httpx.AsyncClient(transport=transport, **self._http_options(timeout))
        # Replaceable (tests): how the client pauses between retries and polls.
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # --- API ---------------------------------------------------------------------------------
    async def submit(self, endpoint: str, **fields: Any) -> Submission:
        body = plain_body(endpoint, fields)
        return await self._run(_flows.submit(self._context(), endpoint, body))

    async def get_result(self, task: str | Submission) -> Result:
        return await self._run(_flows.get_result(self._context(), task))

    async def wait(self, task: str | Submission, *, timeout: float = 600,
                   on_progress: _flows.ProgressCallback | None = None,
                   poll_interval: float | None = None) -> Result:
        return await self._run(_flows.wait(self._context(), task, timeout, on_progress,
                                           poll_interval))

    async def fetch_sample(self, result: Result) -> Sample:
        return await self._run(_flows.fetch_sample(self._context(), result))

    async def download(self, result: Result, path: str | Path | None = None) -> bytes:
        sample = await self.fetch_sample(result)
        if path is not None:
            sample.save(path, result.id)
        return sample.data

    async def generate(self, endpoint: str, *,
                       on_progress: _flows.ProgressCallback | None = None,
                       timeout: float = 600, poll_interval: float | None = None,
                       **fields: Any) -> Result:
        flow = _flows.generate(self._context(), endpoint, generate_body(endpoint, fields),
                               timeout, on_progress, poll_interval)
        return await self._run(flow)

    async def finetune(self, file_data: bytes | Path | str, *, finetune_comment: str,
                       trigger_word: str = "TOK", mode: str = "general",
                       iterations: int = 300, **fields: Any) -> FinetuneSubmission:
        body = finetune_body(file_data, finetune_comment=finetune_comment,
                             trigger_word=trigger_word, mode=mode, iterations=iterations,
                             fields=fields)
        return await self._run(_flows.finetune(self._context(), body))

    async def upload_finetune(self, path: str | Path, *, name: str, base: str,
                         trigger_word: str | None = None) -> FinetuneUploaded:
        """Upload a FLUX.2 [klein] LoRA (.safetensors; fluxhost's extension) under `name` for
        `base` ("klein-4b" or "klein-9b"); `name` is then the finetune_id of the base's
        -finetuned endpoint. The server checks and converts the file (a refusal is an
        InvalidRequest or APIError naming the problem)."""
        call = upload_call(path, name=name, base=base, trigger_word=trigger_word)
        return await self._run(_flows.upload_finetune(self._context(), call))

    async def my_finetunes(self) -> list[str]:
        return await self._run(_flows.my_finetunes(self._context()))

    async def finetune_details(self, finetune_id: str) -> dict[str, Any]:
        return await self._run(_flows.finetune_details(self._context(), finetune_id))

    async def delete_finetune(self, finetune_id: str) -> dict[str, Any]:
        return await self._run(_flows.delete_finetune(self._context(), finetune_id))

    # --- I/O -------------------------------------------------------------------------------
    async def _submit_model(self, endpoint: str, inputs: BaseModel | None,
                            fields: dict[str, Any]) -> Submission:
        body = typed_body(endpoint, inputs, fields)
        return await self._run(_flows.submit(self._context(), endpoint, body))

    async def _run(self, flow: _flows.Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, _flows.Sleep):
                    await self._sleep(step.seconds)
                    step = flow.send(None)
                    continue
                try:
                    response = await self._send(step)
                except httpx.TransportError as exc:
                    step = flow.throw(exc)
                else:
                    step = flow.send(response)
        except StopIteration as stop:
            return stop.value

    async def _send(self, call: Call) -> httpx.Response:
        return await self._http.request(call.method, call.url, params=call.params,
                                        json=call.json, content=call.content,
                                        headers=self._headers(call))
