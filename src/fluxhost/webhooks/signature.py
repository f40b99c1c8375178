"""Webhook authentication headers (API-NOTES, Webhooks: Decision).

Both documented schemes are sent, so receivers written against either work: the shared secret
itself in `X-Webhook-Secret`, and an HMAC-SHA256 of the exact body bytes in `X-BFL-Signature`.
The HMAC is the one to prefer: it also proves the body was not altered. The HMAC itself lives
in `fluxhost.wire.signature`, shared with the client SDK."""

from __future__ import annotations

from fluxhost.wire.signature import (
    SECRET_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_PREFIX,
)
from fluxhost.wire.signature import sign_webhook as compute_signature
from fluxhost.wire.signature import verify_webhook as verify_signature

__all__ = [
    "SECRET_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_PREFIX",
    "compute_signature",
    "signature_headers",
    "verify_signature",
]


def signature_headers(body: bytes, secret: str | None) -> dict[str, str]:
    """The authentication headers for one POST of `body`; none without a secret."""
    if not secret:
        return {}
    return {SECRET_HEADER: secret, SIGNATURE_HEADER: compute_signature(body, secret)}
