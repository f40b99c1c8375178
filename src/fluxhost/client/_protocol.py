"""The API without I/O: the requests each call makes and what its answers mean.

Shared by `Client` and `AsyncClient`, which only move bytes."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from fluxhost.client.errors import APIError, FluxhostError, api_error
from fluxhost.client.models import FinetuneSubmission, Result, Sample, Submission
from fluxhost.wire.finetunes import (
    DeleteFinetuneResponse,
    FinetuneCreated,
    FinetuneDetailResponse,
    MyFinetunesResponse,
)
from fluxhost.wire.flux2_finetuned import FinetuneUploaded

RESULT_PATH = "/v1/get_result"
UPLOAD_PATH = "/v1/fluxhost/finetunes/upload"  # fluxhost's extension (docs/endpoints.md)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Call:
    """One HTTP request. `url` is a path on the base URL or an absolute URL (polling and
    sample URLs); `auth` says whether it carries the key."""

    method: str
    url: str
    params: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    auth: bool = True
    content: bytes | None = None  # a raw body (the LoRA upload), instead of json

    @property
    def idempotent(self) -> bool:
        # Every GET of the API only reads; every POST may create (or delete) something.
        return self.method == "GET"


def endpoint_path(endpoint: str) -> str:
    """`/v1/<endpoint>` for "flux-dev", "/flux-dev/" or "v1/flux-dev"."""
    name = endpoint.strip().strip("/").removeprefix("v1/")
    if not name or "?" in name or "#" in name:
        raise ValueError(f"not an endpoint name: {endpoint!r}")
    return "/v1/" + name


def submit_call(endpoint: str, payload: dict[str, Any]) -> Call:
    return Call("POST", endpoint_path(endpoint), json=payload)


def result_call(task: str | Submission) -> Call:
    if isinstance(task, Submission) and task.polling_url:
        # The contract tells clients to poll the URL they were given: it names the host that
        # owns the task, which need not be the one submitted to.
        return Call("GET", task.polling_url)
    return Call("GET", RESULT_PATH, params={"id": task_id(task)})


def sample_call(url: str) -> Call:
    # Sample URLs are signed and may be on another host: the key stays home.
    return Call("GET", url, auth=False)


def finetune_call(payload: dict[str, Any]) -> Call:
    return Call("POST", "/v1/finetune", json=payload)


def upload_finetune_call(data: bytes, *, name: str, base: str,
                         trigger_word: str | None) -> Call:
    params = {"name": name, "base": base}
    if trigger_word is not None:
        params["trigger_word"] = trigger_word
    return Call("POST", UPLOAD_PATH, params=params, content=data)


def parse_upload(response: httpx.Response) -> FinetuneUploaded:
    return _model(FinetuneUploaded, json_object(response), response)


def my_finetunes_call() -> Call:
    return Call("GET", "/v1/my_finetunes")


def finetune_details_call(finetune_id: str) -> Call:
    return Call("GET", "/v1/finetune_details", params={"finetune_id": finetune_id})


def delete_finetune_call(finetune_id: str) -> Call:
    return Call("POST", "/v1/delete_finetune", json={"finetune_id": finetune_id})


def task_id(task: str | Submission) -> str:
    return task.id if isinstance(task, Submission) else task


# --- answers ---------------------------------------------------------------------------------
def parse_submission(response: httpx.Response) -> Submission:
    body = json_object(response)
    task = body.get("id")
    if not isinstance(task, str):
        raise FluxhostError(response.status_code, f"submit answer has no task id: {body}")
    polling_url = body.get("polling_url")
    return Submission(task, polling_url if isinstance(polling_url, str) else None, body,
                      *(_number(body.get(k)) for k in ("cost", "input_mp", "output_mp")))


def parse_finetune_submission(response: httpx.Response) -> FinetuneSubmission:
    body = json_object(response)
    created = _model(FinetuneCreated, body, response)
    polling_url = body.get("polling_url")
    return FinetuneSubmission(created.finetune_id,
                              polling_url if isinstance(polling_url, str) else None, body)


def parse_result(response: httpx.Response, task: str | Submission) -> Result:
    body = _json_dict(response)
    # Unknown ids answer 404 with a normal result body; any other 404 (a wrong base URL, say)
    # is an error.
    if response.status_code == 404 and body is not None \
            and body.get("status") == "Task not found":
        return _result(body, task_id(task), response.status_code)
    return _result(json_object(response), task_id(task), response.status_code)


def parse_sample(response: httpx.Response) -> Sample:
    raise_for_status(response)
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return Sample(response.content, content_type)


def parse_my_finetunes(response: httpx.Response) -> list[str]:
    listed = _model(MyFinetunesResponse, json_object(response), response)
    return [str(item) for item in listed.finetunes]


def parse_finetune_details(response: httpx.Response) -> dict[str, Any]:
    return _model(FinetuneDetailResponse, json_object(response), response).finetune_details


def parse_delete_finetune(response: httpx.Response) -> dict[str, Any]:
    body = json_object(response)
    _model(DeleteFinetuneResponse, body, response)
    return body


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body of a successful answer; the APIError it stands for otherwise."""
    raise_for_status(response)
    body = _json_dict(response)
    if body is None:
        raise FluxhostError(response.status_code,
                            f"expected a JSON object: {response.text[:200]!r}")
    return body


def raise_for_status(response: httpx.Response) -> None:
    if not response.is_success:
        raise error_from(response)


def error_from(response: httpx.Response) -> APIError:
    body = _json_dict(response)
    if body is not None and "detail" in body:
        detail: Any = body["detail"]
    else:
        text = response.text.strip()
        detail = text[:500] if text else response.reason_phrase
    return api_error(response.status_code, detail, body=body,
                     retry_after=retry_after(response))


def retry_after(response: httpx.Response) -> float | None:
    """Seconds asked for by Retry-After (delta-seconds or an HTTP date); None when absent or
    unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_dict(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _model(model: type[M], body: dict[str, Any], response: httpx.Response) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise FluxhostError(response.status_code,
                            f"unexpected {model.__name__} answer: {body}") from exc


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _result(body: dict[str, Any], task: str, status_code: int) -> Result:
    status = body.get("status")
    if not isinstance(status, str):
        raise FluxhostError(status_code, f"result has no status: {body}")
    result = body.get("result")
    return Result(
        id=str(body.get("id") or task),
        status=status,
        result=result if isinstance(result, dict) else None,
        progress=_number(body.get("progress")),
        details=body.get("details"),
        raw=body,
    )
