"""Python client for a fluxhost server (the FLUX finetune image API).

Needs only httpx: importing it loads none of the server's dependencies.

    with Client("http://127.0.0.1:8000", "fh_...") as client:
        result, image = client.generate("flux-pro-finetuned", finetune_id=..., prompt="...")
"""

from fluxhost.client.client import Client
from fluxhost.client.errors import FluxhostError, TaskFailed
from fluxhost.client.models import TERMINAL_STATUSES, Result, Sample, Submission
from fluxhost.client.webhooks import SIGNATURE_HEADER, sign_webhook, verify_webhook

__all__ = [
    "SIGNATURE_HEADER",
    "TERMINAL_STATUSES",
    "Client",
    "FluxhostError",
    "Result",
    "Sample",
    "Submission",
    "TaskFailed",
    "sign_webhook",
    "verify_webhook",
]
