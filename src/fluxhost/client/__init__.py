"""Python SDK for fluxhost and the hosted FLUX API (https://api.bfl.ai): sync and async.

Needs only httpx and pydantic: importing it loads none of the server's dependencies.

    from fluxhost.client import Client

    with Client() as client:  # $FLUXHOST_BASE_URL and $FLUXHOST_API_KEY (or $BFL_API_KEY)
        result = client.generate("flux-dev", prompt="a lighthouse", width=512, height=512)
        client.download(result, "lighthouse.jpg")

See docs/sdk.md.
"""

from fluxhost.catalog import ENDPOINT_MODELS, IMAGE_FIELDS, method_name
from fluxhost.client._config import DEFAULT_BASE_URL, HOSTED_BASE_URL
from fluxhost.client.aio import AsyncClient
from fluxhost.client.client import Client
from fluxhost.client.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    FluxhostError,
    InvalidRequest,
    NotFoundError,
    RateLimitError,
    ServerError,
    TaskError,
    TaskFailed,
    TaskModerated,
    TaskNotFound,
    UnprocessableEntityError,
    WaitTimeout,
)
from fluxhost.client.models import (
    TERMINAL_STATUSES,
    FinetuneSubmission,
    Result,
    Sample,
    Submission,
)
from fluxhost.wire.signature import SIGNATURE_HEADER, sign_webhook, verify_webhook

__all__ = [
    "DEFAULT_BASE_URL",
    "ENDPOINT_MODELS",
    "HOSTED_BASE_URL",
    "IMAGE_FIELDS",
    "SIGNATURE_HEADER",
    "TERMINAL_STATUSES",
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "FinetuneSubmission",
    "FluxhostError",
    "InvalidRequest",
    "NotFoundError",
    "RateLimitError",
    "Result",
    "Sample",
    "ServerError",
    "Submission",
    "TaskError",
    "TaskFailed",
    "TaskModerated",
    "TaskNotFound",
    "UnprocessableEntityError",
    "WaitTimeout",
    "method_name",
    "sign_webhook",
    "verify_webhook",
]
