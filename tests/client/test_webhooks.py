"""The SDK's webhook helpers are the server's: one implementation, so what the server signs
the SDK verifies (the algorithm's cases are in tests/webhooks/test_webhook_signature.py)."""

from __future__ import annotations

import pytest

from fluxhost.client import SIGNATURE_HEADER, sign_webhook, verify_webhook
from fluxhost.webhooks import signature_headers
from fluxhost.webhooks.signature import compute_signature, verify_signature


def test_one_implementation() -> None:
    assert sign_webhook is compute_signature and verify_webhook is verify_signature


@pytest.mark.parametrize("secret", ["s3cret", "ключ", "x" * 200])
@pytest.mark.parametrize("body", [b"", b'{"id": "t", "status": "SUCCESS"}', bytes(range(256))])
def test_what_the_server_sends_verifies(body: bytes, secret: str) -> None:
    header = signature_headers(body, secret)[SIGNATURE_HEADER]
    assert header == sign_webhook(body, secret)
    assert verify_webhook(body, secret, header)
    assert not verify_webhook(body + b"x", secret, header)
    assert not verify_webhook(body, secret + "x", header)
    assert not verify_webhook(body, secret, None)
