"""Signed delivery URLs: valid, expired, forged, tampered; and the local blob store."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from fluxhost.api.app import create_app
from fluxhost.storage import LocalBlobStore, UrlSigner, load_signing_key
from fluxhost.storage.blobs import BadBlobKey

KEY = b"k" * 32


def parts(url: str) -> tuple[str, str, str]:
    parsed = urlparse(url)
    q = parse_qs(parsed.query)
    return parsed.path.removeprefix("/delivery/"), q["exp"][0], q["sig"][0]


def test_sign_and_verify() -> None:
    signer = UrlSigner(KEY, 600)
    url = signer.sign("http://h", "results/a.png", now=1000)
    assert url.startswith("http://h/delivery/results/a.png?exp=1600&sig=")
    key, exp, sig = parts(url)
    assert signer.verify(key, exp, sig, now=1599) is None
    assert signer.verify(key, exp, sig, now=1601) == "Signature expired"
    assert signer.verify("results/b.png", exp, sig, now=1000) == "Invalid signature"
    assert signer.verify(key, "1700", sig, now=1000) == "Invalid signature"
    assert signer.verify(key, "x", sig, now=1000) == "Invalid signature"
    assert UrlSigner(b"o" * 32, 600).verify(key, exp, sig, now=1000) == "Invalid signature"


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        UrlSigner(b"short", 600)


def test_generated_key_is_stable_and_private(tmp_path: Path) -> None:
    first = load_signing_key(None, tmp_path)
    assert load_signing_key(None, tmp_path) == first
    assert (tmp_path / "signing.key").stat().st_mode & 0o077 == 0
    assert load_signing_key("configured-key-value", tmp_path) == b"configured-key-value"


def test_blob_store_rejects_traversal(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    for bad in ("../x.png", "/etc/passwd", "a/../../b.png", "a/.hidden", "noext"):
        with pytest.raises(BadBlobKey):
            blobs.put(bad, b"x")
    blobs.put("results/a.png", b"data")
    assert blobs.get("results/a.png") == b"data"
    blobs.delete("results/a.png")
    assert blobs.get("results/a.png") is None


def test_download_expired_forged_and_content_type(settings: object, services: object) -> None:
    svc = services
    svc.blobs.put("results/t.png", b"\x89PNG fake")  # type: ignore[attr-defined]
    svc.blobs.put("results/t.jpeg", b"\xff\xd8 fake")  # type: ignore[attr-defined]
    with TestClient(create_app(settings, svc)) as c:  # type: ignore[arg-type]
        signer = svc.signer  # type: ignore[attr-defined]
        ok = c.get(signer.sign("http://testserver", "results/t.png"))
        assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
        ok = c.get(signer.sign("http://testserver", "results/t.jpeg"))
        assert ok.headers["content-type"] == "image/jpeg"

        expired = c.get(signer.sign("http://testserver", "results/t.png", now=0))
        assert expired.status_code == 403
        assert expired.json() == {"detail": "Signature expired"}

        key, exp, _ = parts(signer.sign("http://testserver", "results/t.png"))
        forged = c.get(f"/delivery/{key}?exp={exp}&sig=AAAA")
        assert forged.status_code == 403 and forged.json() == {"detail": "Invalid signature"}
        assert c.get(f"/delivery/{key}").status_code == 403

        gone = c.get(signer.sign("http://testserver", "results/missing.png"))
        assert gone.status_code == 404
