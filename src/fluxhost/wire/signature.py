"""The webhook signature: `X-BFL-Signature: sha256=<hex HMAC-SHA256 of the body>`.

The one implementation: the server signs with it (fluxhost.webhooks) and receivers verify
with it (fluxhost.client). Standard library only, so a receiver needs no server package."""

from __future__ import annotations

import hashlib
import hmac

SECRET_HEADER = "X-Webhook-Secret"
SIGNATURE_HEADER = "X-BFL-Signature"
SIGNATURE_PREFIX = "sha256="


def sign_webhook(body: bytes, secret: str) -> str:
    """The `X-BFL-Signature` value for `body`: `sha256=<hex HMAC-SHA256 keyed by secret>`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_webhook(body: bytes, secret: str, signature_header: str | None) -> bool:
    """Whether an `X-BFL-Signature` header value signs `body` with `secret`, compared in
    constant time.

    Pass the raw request body, before any JSON parsing: re-serializing changes the bytes."""
    if not signature_header or not secret:
        return False
    scheme, sep, given = signature_header.strip().partition("=")
    if not sep or scheme.lower() != SIGNATURE_PREFIX[:-1]:
        return False
    expected = sign_webhook(body, secret)[len(SIGNATURE_PREFIX) :]
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())
