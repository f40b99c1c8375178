"""The blocking client: runs the shared flows (`_flows`) on `httpx.Client`."""

from __future__ import annotations

import time
from collections.abc import Callable
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


class Client(ClientBase[Submission]):
    """A client of a fluxhost server or of the hosted FLUX API (any base URL).

    `base_url` defaults to $FLUXHOST_BASE_URL, else http://127.0.0.1:8000; `api_key` to
    $FLUXHOST_API_KEY, else $BFL_API_KEY. Answers the server refuses raise `APIError`;
    transport failures that outlive the retries raise `httpx.TransportError`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        poll_interval: float = 0.5,
        max_poll_interval: float = 5.0,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, max_retries=max_retries,
                         poll_interval=poll_interval, max_poll_interval=max_poll_interval)
        self._http = httpx.Client(transport=transport, **self._http_options(timeout))
        # Replaceable (tests): how the client pauses between retries and polls.
        self._sleep: Callable[[float], None] = time.sleep

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- API ---------------------------------------------------------------------------------
    def submit(self, endpoint: str, **fields: Any) -> Submission:
        """POST /v1/{endpoint} with `fields` as given (None dropped, bytes, paths and PIL
        images base64-encoded, `references=[...]` spread into input_image, input_image_2,
        ...); the server validates. The typed methods validate here first."""
        return self._run(_flows.submit(self._context(), endpoint, plain_body(endpoint, fields)))

    def get_result(self, task: str | Submission) -> Result:
        """Poll a task once (its polling_url when it has one). An unknown or expired id gives
        status "Task not found"; this raises nothing for a failed task."""
        return self._run(_flows.get_result(self._context(), task))

    def wait(self, task: str | Submission, *, timeout: float = 600,
             on_progress: _flows.ProgressCallback | None = None,
             poll_interval: float | None = None) -> Result:
        """Poll until the task ends; its Ready result. Raises TaskModerated, TaskError or
        TaskNotFound (all TaskFailed) for the other ends, WaitTimeout after `timeout` s.
        `on_progress` is called with every poll's result, the last one included."""
        return self._run(_flows.wait(self._context(), task, timeout, on_progress,
                                     poll_interval))

    def fetch_sample(self, result: Result) -> Sample:
        """The image of a Ready result with its content type (TaskFailed otherwise)."""
        return self._run(_flows.fetch_sample(self._context(), result))

    def download(self, result: Result, path: str | Path | None = None) -> bytes:
        """The image bytes of a Ready result; also written to `path` when given (a folder:
        `<id>.<ext>` in it)."""
        sample = self.fetch_sample(result)
        if path is not None:
            sample.save(path, result.id)
        return sample.data

    def generate(self, endpoint: str, *, on_progress: _flows.ProgressCallback | None = None,
                 timeout: float = 600, poll_interval: float | None = None,
                 **fields: Any) -> Result:
        """submit + wait: the Ready result (download its image with `download`). For an
        endpoint this SDK knows, `fields` are checked by its request model first, as the typed
        methods do (InvalidRequest, nothing sent); another endpoint's are sent as given."""
        flow = _flows.generate(self._context(), endpoint, generate_body(endpoint, fields),
                               timeout, on_progress, poll_interval)
        return self._run(flow)

    def finetune(self, file_data: bytes | Path | str, *, finetune_comment: str,
                 trigger_word: str = "TOK", mode: str = "general", iterations: int = 300,
                 **fields: Any) -> FinetuneSubmission:
        """POST /v1/finetune: a ZIP of images (bytes, a .zip path, a folder to zip, or
        base64); `wait()` on the answer follows the training."""
        body = finetune_body(file_data, finetune_comment=finetune_comment,
                             trigger_word=trigger_word, mode=mode, iterations=iterations,
                             fields=fields)
        return self._run(_flows.finetune(self._context(), body))

    def upload_finetune(self, path: str | Path, *, name: str, base: str,
                         trigger_word: str | None = None) -> FinetuneUploaded:
        """Upload a FLUX.2 [klein] LoRA (.safetensors; fluxhost's extension) under `name` for
        `base` ("klein-4b" or "klein-9b"); `name` is then the finetune_id of the base's
        -finetuned endpoint. The server checks and converts the file (a refusal is an
        InvalidRequest or APIError naming the problem)."""
        call = upload_call(path, name=name, base=base, trigger_word=trigger_word)
        return self._run(_flows.upload_finetune(self._context(), call))

    def my_finetunes(self) -> list[str]:
        """The ids of this key's finetunes."""
        return self._run(_flows.my_finetunes(self._context()))

    def finetune_details(self, finetune_id: str) -> dict[str, Any]:
        """The `finetune_details` object of one finetune (NotFoundError if not this key's)."""
        return self._run(_flows.finetune_details(self._context(), finetune_id))

    def delete_finetune(self, finetune_id: str) -> dict[str, Any]:
        """Delete a finetune (cancelling its training); the server's answer."""
        return self._run(_flows.delete_finetune(self._context(), finetune_id))

    # --- I/O -------------------------------------------------------------------------------
    def _submit_model(self, endpoint: str, inputs: BaseModel | None,
                      fields: dict[str, Any]) -> Submission:
        body = typed_body(endpoint, inputs, fields)
        return self._run(_flows.submit(self._context(), endpoint, body))

    def _run(self, flow: _flows.Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, _flows.Sleep):
                    self._sleep(step.seconds)
                    step = flow.send(None)
                    continue
                try:
                    response = self._send(step)
                except httpx.TransportError as exc:
                    step = flow.throw(exc)
                else:
                    step = flow.send(response)
        except StopIteration as stop:
            return stop.value

    def _send(self, call: Call) -> httpx.Response:
        return self._http.request(call.method, call.url, params=call.params, json=call.json,
                                  content=call.content,
                                  headers=self._headers(call))
