"""Webhook authentication headers (API-NOTES, Webhooks: Decision).

Both documented schemes are sent, so receivers written against either work: the shared secret
itself in `X-Webhook-Secret`, and an HMAC-SHA256 of the exact body bytes in `X-BFL-Signature`.
The HMAC is the one to prefer: it also proves the body was not altered."""

from __future__ import annotations

import hashlib
import hmac

SECRET_HEADER = "X-Webhook-Secret"
SIGNATURE_HEADER = "X-BFL-Signature"
SIGNATURE_PREFIX = "sha256="


def compute_signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of body keyed by secret>`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_headers(body: bytes, secret: str | None) -> dict[str, str]:
    """The authentication headers for one POST of `body`; none without a secret."""
    if not secret:
        return {}
    return {SECRET_HEADER: secret, SIGNATURE_HEADER: compute_signature(body, secret)}


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """Whether an `X-BFL-Signature` header value matches `body`, in constant time.

    For receivers: pass the raw request body, before any JSON parsing, since re-serializing
    changes the bytes."""
    if not header or not secret:
        return False
    scheme, sep, given = header.strip().partition("=")
    if not sep or scheme.lower() != SIGNATURE_PREFIX[:-1]:
        return False
    expected = compute_signature(body, secret)[len(SIGNATURE_PREFIX) :]
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())
