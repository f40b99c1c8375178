"""`x-key` authentication as a dependency. Lookups are cached for a few seconds so a hot
submit path costs one dict hit; a revoked key stops working within `CACHE_SECONDS`."""

from __future__ import annotations

import time

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from fluxhost.store.keys import KeyInfo, authenticate, hash_key

NOT_AUTHENTICATED = "Not authenticated - Invalid Authentication"
CACHE_SECONDS = 5.0

# auto_error=False: we answer the provider's 403 body ourselves; the scheme still documents
# `x-key` in /openapi.json under the provider's name.
api_key_header = APIKeyHeader(name="x-key", scheme_name="APIKeyHeader", auto_error=False)

_cache: dict[str, tuple[float, KeyInfo | None]] = {}


def _lookup(request: Request, plaintext: str) -> KeyInfo | None:
    digest = hash_key(plaintext)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    info = authenticate(request.app.state.services.store, plaintext)
    if info is not None:  # unknown keys are not cached: a key made a moment ago works at once
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[digest] = (now + CACHE_SECONDS, info)
    return info


def clear_cache() -> None:
    _cache.clear()


def optional_key(request: Request) -> KeyInfo | None:
    """The caller's key if it sent one; 403 if it sent a bad one. Read straight from the
    headers so routes that merely accept a key (get_result) show no security requirement."""
    x_key = request.headers.get("x-key")
    if not x_key:
        return None
    info = _lookup(request, x_key)
    if info is None:
        raise HTTPException(status_code=403, detail=NOT_AUTHENTICATED)
    return info


def require_key(request: Request, x_key: str | None = Depends(api_key_header)) -> KeyInfo:
    info = _lookup(request, x_key) if x_key else None
    if info is None:
        raise HTTPException(status_code=403, detail=NOT_AUTHENTICATED)
    return info
