from __future__ import annotations

import hashlib
import hmac

from fluxhost.webhooks import signature_headers, verify_signature

BODY = b'{"id":"t1","task_id":"t1","status":"SUCCESS"}'


def test_headers_exact_format() -> None:
    headers = signature_headers(BODY, "s3cret")
    expected = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert headers == {"X-Webhook-Secret": "s3cret", "X-BFL-Signature": f"sha256={expected}"}
    assert len(expected) == 64 and expected == expected.lower()


def test_no_secret_no_headers() -> None:
    assert signature_headers(BODY, None) == {}
    assert signature_headers(BODY, "") == {}


def test_verify_round_trip() -> None:
    header = signature_headers(BODY, "s3cret")["X-BFL-Signature"]
    assert verify_signature(BODY, "s3cret", header)
    assert verify_signature(BODY, "s3cret", header.upper().replace("SHA256=", "sha256="))
    assert verify_signature(BODY, "s3cret", f"  {header} ")


def test_verify_rejects() -> None:
    header = signature_headers(BODY, "s3cret")["X-BFL-Signature"]
    assert not verify_signature(BODY + b" ", "s3cret", header)
    assert not verify_signature(BODY, "other", header)
    assert not verify_signature(BODY, "s3cret", None)
    assert not verify_signature(BODY, "s3cret", "")
    assert not verify_signature(BODY, "s3cret", header.removeprefix("sha256="))
    assert not verify_signature(BODY, "s3cret", "sha1=" + header.removeprefix("sha256="))
    assert not verify_signature(BODY, "s3cret", "sha256=" + "0" * 64)
    assert not verify_signature(BODY, "s3cret", "sha256=ü")
    assert not verify_signature(BODY, "", header)


def test_unicode_secret_is_utf8() -> None:
    header = signature_headers(BODY, "sécret")["X-BFL-Signature"]
    expected = hmac.new("sécret".encode(), BODY, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
