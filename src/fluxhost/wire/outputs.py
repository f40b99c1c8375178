"""Response bodies: submit answers, get_result, webhook payloads, error bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from fluxhost.wire.enums import StatusResponse


def _plain_object_or_null(schema: dict[str, Any]) -> None:
    # The provider renders `dict | None` as a bare object; pydantic adds additionalProperties.
    schema["anyOf"] = [{"type": "object"}, {"type": "null"}]
    schema.pop("default", None)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _measure(title: str, description: str) -> Any:
    return Field(None, title=title, description=description, json_schema_extra=_no_default)


COST = ("Cost", "Cost in credits for this request")
INPUT_MP = ("Input Mp", "Input megapixels (2 decimal places)")
OUTPUT_MP = ("Output Mp", "Output megapixels (2 decimal places)")


# `cost`, `input_mp` and `output_mp`: the optional figures base-api.openapi.json adds to both
# submit answers, served on both families (sent when given, null included: answers are dumped
# with `exclude_unset`).
class AsyncResponse(BaseModel):
    id: str
    polling_url: str
    cost: float | None = _measure(*COST)
    input_mp: float | None = _measure(*INPUT_MP)
    output_mp: float | None = _measure(*OUTPUT_MP)


class AsyncWebhookResponse(BaseModel):
    id: str
    status: str
    webhook_url: str
    cost: float | None = _measure(*COST)
    input_mp: float | None = _measure(*INPUT_MP)
    output_mp: float | None = _measure(*OUTPUT_MP)


class AsyncWebhookResponseWithPolling(AsyncWebhookResponse):
    """What we send: API-NOTES decides to add `polling_url` to the webhook variant."""

    polling_url: str


class ResultResponse(BaseModel):
    id: str = Field(description="Task id for retrieving result")
    status: StatusResponse
    result: Any | None = None
    progress: float | None = None
    details: dict[str, Any] | None = Field(None, json_schema_extra=_plain_object_or_null)


class ResultBody(ResultResponse):
    """The body actually sent: the spec's ResultResponse plus `preview` (seen in real traffic)."""

    preview: Any | None = None


class SampleResult(BaseModel):
    """`result` of a Ready generation task."""

    sample: str
    prompt: str
    seed: int
    start_time: float
    end_time: float
    duration: float


class WebhookPayload(BaseModel):
    """POSTed to `webhook_url` when a task ends (API-NOTES 'Webhooks', Decision)."""

    id: str
    task_id: str
    status: str  # SUCCESS | FAILED | Request Moderated | Content Moderated
    result: Any | None = None
    progress: float | None = None
    details: dict[str, Any] | None = None
    error: str | None = None


WEBHOOK_STATUS = {
    StatusResponse.ready.value: "SUCCESS",
    StatusResponse.error.value: "FAILED",
    StatusResponse.request_moderated.value: "Request Moderated",
    StatusResponse.content_moderated.value: "Content Moderated",
}


class ErrorDetail(BaseModel):
    """Every non-validation error body: `{"detail": "..."}`."""

    detail: str
