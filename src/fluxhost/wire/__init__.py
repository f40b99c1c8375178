"""The wire contract: every request and response shape of the API, and nothing else."""

from fluxhost.wire.enums import OutputFormat, StatusResponse
from fluxhost.wire.inputs import (
    FinetuneCannyInputs,
    FinetuneDepthInputs,
    FinetuneFluxProFillInputs,
    FinetuneFluxUltraInput,
    FluxProFinetuneInputs,
    GenerationInputs,
    parse_aspect_ratio,
)
from fluxhost.wire.outputs import (
    AsyncResponse,
    AsyncWebhookResponse,
    AsyncWebhookResponseWithPolling,
    ErrorDetail,
    ResultBody,
    ResultResponse,
    SampleResult,
    WebhookPayload,
)

__all__ = [
    "AsyncResponse",
    "AsyncWebhookResponse",
    "AsyncWebhookResponseWithPolling",
    "ErrorDetail",
    "FinetuneCannyInputs",
    "FinetuneDepthInputs",
    "FinetuneFluxProFillInputs",
    "FinetuneFluxUltraInput",
    "FluxProFinetuneInputs",
    "GenerationInputs",
    "OutputFormat",
    "ResultBody",
    "ResultResponse",
    "SampleResult",
    "StatusResponse",
    "WebhookPayload",
    "parse_aspect_ratio",
]
