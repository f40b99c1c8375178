"""A task row rendered as the wire shapes a client sees: the get_result body and the webhook
payload. Both sign the sample URL at render time, so every poll and every webhook attempt
carries a URL valid for the full TTL."""

from __future__ import annotations

from typing import Any

from fluxhost.storage.signing import UrlSigner
from fluxhost.store.models import Task
from fluxhost.wire import ResultBody, StatusResponse, WebhookPayload
from fluxhost.wire.outputs import WEBHOOK_STATUS


def task_result(task: Task, signer: UrlSigner, base_url: str | None = None) -> Any:
    if task.status != StatusResponse.ready.value or task.result is None:
        return task.result
    result = dict(task.result)
    if task.blob_key:
        result = {"sample": signer.sign(base_url or task.base_url, task.blob_key), **result}
    return result


def result_body(task: Task, signer: UrlSigner, base_url: str | None = None) -> ResultBody:
    return ResultBody(
        id=task.id,
        status=StatusResponse(task.status),
        result=task_result(task, signer, base_url),
        progress=task.progress if task.state == "running" else None,
        details=task.details,
        preview=None,
    )


def not_found_body(task_id: str) -> ResultBody:
    return ResultBody(id=task_id, status=StatusResponse.task_not_found, details=None)


def webhook_body(task: Task, signer: UrlSigner) -> bytes:
    """The exact bytes POSTed (and signed) for a terminal task."""
    error = None
    if task.status == StatusResponse.error.value and task.details:
        error = str(task.details.get("error", "")) or None
    payload = WebhookPayload(
        id=task.id,
        task_id=task.id,
        status=WEBHOOK_STATUS.get(task.status, task.status),
        result=task_result(task, signer),
        progress=None,
        details=task.details,
        error=error,
    )
    return payload.model_dump_json().encode()
