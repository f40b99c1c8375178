"""Webhook delivery: the SSRF guard, the signature headers and the outbox dispatcher."""

from fluxhost.webhooks.dispatcher import USER_AGENT, AttemptResult, WebhookDispatcher
from fluxhost.webhooks.signature import (
    SECRET_HEADER,
    SIGNATURE_HEADER,
    compute_signature,
    signature_headers,
    verify_signature,
)
from fluxhost.webhooks.targets import (
    ResolvedTarget,
    TargetRefused,
    address_refusal,
    check_url_literal,
    resolve_target,
)

__all__ = [
    "SECRET_HEADER",
    "SIGNATURE_HEADER",
    "USER_AGENT",
    "AttemptResult",
    "ResolvedTarget",
    "TargetRefused",
    "WebhookDispatcher",
    "address_refusal",
    "check_url_literal",
    "compute_signature",
    "resolve_target",
    "signature_headers",
    "verify_signature",
]
