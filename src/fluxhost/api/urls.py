"""The absolute base URL clients reach us at: the configured public URL, else the request's own,
rewritten by X-Forwarded-Proto/Host/Prefix when the peer is a trusted proxy."""

from __future__ import annotations

from fastapi import Request

from fluxhost.settings import Settings


def base_url(request: Request, settings: Settings) -> str:
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    # From the scope, not request.url: building a URL object costs more than this whole answer.
    scheme = request.scope.get("scheme", "http")
    host = request.headers.get("host") or _server(request)
    prefix = ""
    if _trusted(request, settings.forwarded_allow_ips):
        headers = request.headers
        scheme = _first(headers.get("x-forwarded-proto")) or scheme
        host = _first(headers.get("x-forwarded-host")) or host
        prefix = (_first(headers.get("x-forwarded-prefix")) or "").rstrip("/")
    return f"{scheme}://{host}{prefix}"


def _server(request: Request) -> str:
    server = request.scope.get("server") or ("localhost", 80)
    return f"{server[0]}:{server[1]}"


def _trusted(request: Request, allowed: list[str]) -> bool:
    peer = request.client.host if request.client else None
    return "*" in allowed or (peer is not None and peer in allowed)


def _first(value: str | None) -> str | None:
    # A chain of proxies appends; the first entry is what the client used.
    return value.split(",")[0].strip() if value else None
