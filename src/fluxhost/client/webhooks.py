"""Checking the `X-BFL-Signature` header of a webhook fluxhost sent.

Same algorithm as the server's `fluxhost.webhooks.signature`, re-implemented here because
importing the server package pulls its database layer into client processes."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-BFL-Signature"
_PREFIX = "sha256="


def sign_webhook(body: bytes, secret: str) -> str:
    """The `X-BFL-Signature` value for `body`: `sha256=<hex HMAC-SHA256 keyed by secret>`."""
    return _PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_webhook(body: bytes, secret: str, signature_header: str | None) -> bool:
    """Whether `signature_header` signs `body` with `secret`, compared in constant time.

    Pass the raw request body: re-serialized JSON has different bytes."""
    if not signature_header or not secret:
        return False
    scheme, sep, given = signature_header.strip().partition("=")
    if not sep or scheme.lower() != _PREFIX[:-1]:
        return False
    expected = sign_webhook(body, secret)[len(_PREFIX):]
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())
