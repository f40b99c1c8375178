"""The HTTP client: submit, poll, download."""

from __future__ import annotations

import base64
import time
from types import TracebackType
from typing import Any

import httpx

from fluxhost import __version__
from fluxhost.client.errors import FluxhostError, TaskFailed
from fluxhost.client.models import Result, Sample, Submission

RESULT_PATH = "/v1/get_result"


class Client:
    """A client of one fluxhost (or FLUX finetune API) server.

    Transport failures (connection refused, timeouts) surface as `httpx.HTTPError`; answers
    the server refuses surface as `FluxhostError`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        # The key goes on API calls only, not on the client: sample URLs are signed and may be
        # on another host, which has no business seeing the key.
        self._auth = {"x-key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"user-agent": f"fluxhost-client/{__version__}"},
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- API -------------------------------------------------------------------------------
    def submit(self, endpoint: str, **fields: Any) -> Submission:
        """POST /v1/{endpoint}. None values are dropped; bytes are sent base64-encoded."""
        path = "/v1/" + endpoint.strip("/").removeprefix("v1/")
        payload = {name: _jsonable(value) for name, value in fields.items() if value is not None}
        response = self._http.post(path, json=payload, headers=self._auth)
        body = _json_or_raise(response)
        task_id = body.get("id")
        if not isinstance(task_id, str):
            raise FluxhostError(response.status_code, f"submit answer has no task id: {body}")
        polling_url = body.get("polling_url")
        return Submission(task_id, polling_url if isinstance(polling_url, str) else None, body)

    def get_result(self, task: str | Submission) -> Result:
        """Poll a task once. An unknown or expired id gives status "Task not found"."""
        if isinstance(task, Submission) and task.polling_url:
            # The contract tells clients to poll the URL they were given: it names the host
            # that owns the task, which need not be the one submitted to.
            response = self._http.get(task.polling_url, headers=self._auth)
        else:
            task_id = task.id if isinstance(task, Submission) else task
            response = self._http.get(RESULT_PATH, params={"id": task_id}, headers=self._auth)
        if response.status_code == 404:
            # Unknown ids answer 404 with a normal result body; any other 404 (a wrong base
            # URL, say) is an error.
            body = _json_dict(response)
            if body is not None and body.get("status") == "Task not found":
                return _result(body, _task_id(task), response.status_code)
        return _result(_json_or_raise(response), _task_id(task), response.status_code)

    def wait(
        self, task: str | Submission, *, timeout: float = 600, poll_interval: float = 0.5
    ) -> Result:
        """Poll until a terminal status; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.get_result(task)
            if result.is_terminal:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"task {_task_id(task)} still {result.status!r} after {timeout:g}s"
                )
            time.sleep(min(poll_interval, remaining))

    def fetch_sample(self, result: Result) -> Sample:
        """Download a Ready result's image with its content type."""
        if not result.is_ready:
            raise TaskFailed(result)
        url = result.sample_url
        if url is None:
            raise FluxhostError(None, f"task {result.id} is Ready but has no sample URL")
        response = self._http.get(url)
        if not response.is_success:
            raise FluxhostError(response.status_code, _detail(response))
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        return Sample(response.content, content_type)

    def download(self, result: Result) -> bytes:
        """The image bytes of a Ready result (TaskFailed, a FluxhostError, if not Ready)."""
        return self.fetch_sample(result).data

    def generate(
        self, endpoint: str, *, timeout: float = 600, poll_interval: float = 0.5, **fields: Any
    ) -> tuple[Result, bytes]:
        """Submit, wait and download; TaskFailed when the task does not end Ready."""
        submission = self.submit(endpoint, **fields)
        result = self.wait(submission, timeout=timeout, poll_interval=poll_interval)
        if not result.is_ready:
            raise TaskFailed(result)
        return result, self.download(result)


def _task_id(task: str | Submission) -> str:
    return task.id if isinstance(task, Submission) else task


def _jsonable(value: Any) -> Any:
    # Image fields are base64 strings on the wire; bytes cannot be JSON anyway.
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return value


def _json_dict(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _detail(response: httpx.Response) -> Any:
    body = _json_dict(response)
    if body is not None and "detail" in body:
        return body["detail"]
    text = response.text.strip()
    return text[:500] if text else response.reason_phrase


def _json_or_raise(response: httpx.Response) -> dict[str, Any]:
    if not response.is_success:
        raise FluxhostError(response.status_code, _detail(response))
    body = _json_dict(response)
    if body is None:
        raise FluxhostError(response.status_code, f"expected a JSON object: {response.text[:200]}")
    return body


def _result(body: dict[str, Any], task_id: str, status_code: int) -> Result:
    status = body.get("status")
    if not isinstance(status, str):
        raise FluxhostError(status_code, f"result has no status: {body}")
    result = body.get("result")
    progress = body.get("progress")
    return Result(
        id=str(body.get("id") or task_id),
        status=status,
        result=result if isinstance(result, dict) else None,
        progress=float(progress) if isinstance(progress, int | float) else None,
        details=body.get("details"),
        raw=body,
    )
