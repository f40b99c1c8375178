"""Where a client connects and with which key: arguments first, then the environment."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from fluxhost import __version__

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
HOSTED_BASE_URL = "https://api.bfl.ai"
BASE_URL_ENV = "FLUXHOST_BASE_URL"
# The second is the hosted API's own name for its key.
API_KEY_ENVS = ("FLUXHOST_API_KEY", "BFL_API_KEY")
USER_AGENT = f"fluxhost-client/{__version__}"


def resolve_base_url(base_url: str | None) -> str:
    """`base_url`, else $FLUXHOST_BASE_URL, else the local default; without a trailing `/v1`
    (paths carry it), so "https://api.bfl.ai/v1" works too. ValueError naming a bad one."""
    url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
    url = url.removesuffix("/v1")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {url!r}")
    return url


def resolve_api_key(api_key: str | None) -> str | None:
    """`api_key`, else $FLUXHOST_API_KEY, else $BFL_API_KEY, else None (no x-key header)."""
    if api_key:
        return api_key
    for name in API_KEY_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None
