"""Signed, expiring delivery URLs: `/delivery/<blob key>?exp=<unix>&sig=<hmac>`.

The signature covers the path and the expiry, so neither can be changed, and is checked in
constant time. Every poll signs afresh, so a client always gets a full TTL."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

DELIVERY_PREFIX = "/delivery/"


class UrlSigner:
    def __init__(self, key: bytes, ttl_seconds: int) -> None:
        if len(key) < 16:
            raise ValueError(f"signing key must be at least 16 bytes, got {len(key)}")
        self._key = key
        self.ttl_seconds = ttl_seconds

    def _sig(self, blob_key: str, exp: int) -> str:
        mac = hmac.new(self._key, f"{blob_key}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def sign(self, base_url: str, blob_key: str, now: float | None = None) -> str:
        exp = int((now if now is not None else time.time()) + self.ttl_seconds)
        return (
            f"{base_url.rstrip('/')}{DELIVERY_PREFIX}{quote(blob_key)}"
            f"?exp={exp}&sig={self._sig(blob_key, exp)}"
        )

    def verify(self, blob_key: str, exp: str, sig: str, now: float | None = None) -> str | None:
        """None when valid, else why not (for the 403 body)."""
        try:
            exp_i = int(exp)
        except ValueError:
            return "Invalid signature"
        if not hmac.compare_digest(self._sig(blob_key, exp_i), sig):
            return "Invalid signature"
        if exp_i < (now if now is not None else time.time()):
            return "Signature expired"
        return None


def load_signing_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, or one generated once into DATA_DIR/signing.key (mode 0600).

    Every node of a fleet must share it: set FLUXHOST_SIGNING_KEY there."""
    if configured:
        return configured.encode()
    path = data_dir / "signing.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".signing.key.{os.getpid()}"
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        # link() fails if another process won the race; then everyone reads the winner's key.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    return path.read_text().strip().encode()
