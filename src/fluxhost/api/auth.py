"""`x-key` authentication as a dependency. Lookups are cached for a few seconds so a hot
submit path costs one dict hit; a revoked key stops working within `CACHE_SECONDS`."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from fluxhost.api.cache import TTLCache
from fluxhost.store.keys import KeyInfo, authenticate, hash_key

NOT_AUTHENTICATED = "Not authenticated - Invalid Authentication"
CACHE_SECONDS = 5.0

# Documented in /openapi.json under the provider's name (see `app._openapi`), but read straight
# from the headers: a flat dependency costs far less per request than FastAPI's nested
# security-scheme dependency.
SECURITY_SCHEMES = {"APIKeyHeader": {"type": "apiKey", "in": "header", "name": "x-key"}}
SECURITY: list[dict[str, list[str]]] = [{"APIKeyHeader": []}]

_cache: TTLCache[str, KeyInfo] = TTLCache(CACHE_SECONDS)


async def _lookup(request: Request, plaintext: str) -> KeyInfo | None:
    digest = hash_key(plaintext)
    info = _cache.get(digest)
    if info is not None:
        return info
    # A miss is a database read: in a thread, so a flood of unknown keys (never cached) or a
    # database that stalls holds up no other request on the event loop.
    info = await run_in_threadpool(authenticate, request.app.state.services.store, plaintext)
    if info is not None:  # unknown keys are not cached: a key made a moment ago works at once
        _cache.put(digest, info)
    return info



async def optional_key(request: Request) -> KeyInfo | None:
    """The caller's key if it sent one; 403 if it sent a bad one. Read straight from the
    headers so routes that merely accept a key (get_result) show no security requirement."""
    x_key = request.headers.get("x-key")
    if not x_key:
        return None
    info = await _lookup(request, x_key)
    if info is None:
        raise HTTPException(status_code=403, detail=NOT_AUTHENTICATED)
    return info


async def require_key(request: Request) -> KeyInfo:
    x_key = request.headers.get("x-key")
    info = await _lookup(request, x_key) if x_key else None
    if info is None:
        raise HTTPException(status_code=403, detail=NOT_AUTHENTICATED)
    return info
