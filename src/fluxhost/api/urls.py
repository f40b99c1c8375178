"""The absolute base URL clients reach us at: the configured public URL, else the request's own,
rewritten by X-Forwarded-Proto/Host/Prefix when the peer is a trusted proxy.

Those headers are the client's words, and the result is stored with every task (a
VARCHAR(500)) and handed back in polling and sample URLs, so each part is checked before it is
used: a Host that is not `host[:port]`, or a prefix that is not a plain path, is a
`400 {"detail": "Invalid Host header"}` (or the forwarded header's name). A 400, not a quiet
fallback to the server's address: RFC 9112 §3.2 asks for a 400, and a fallback would hand the
client URLs at an address it did not use, failing later and far from the cause."""

from __future__ import annotations

import re

from fastapi import HTTPException, Request

from fluxhost.settings import Settings

# A DNS name is at most 253 characters, ":65535" adds 6; a bracketed IPv6 literal (with a zone)
# fits too. With the prefix bound this keeps "https://" + host + prefix well under 500.
MAX_HOST_CHARS = 259
MAX_PREFIX_CHARS = 200
_HOST_RE = re.compile(
    r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]*"  # a name (perhaps with its root dot) or an IPv4 address
    r"|\[[0-9A-Fa-f:.]+(?:%25[A-Za-z0-9._~-]+)?\])"  # an IPv6 literal
    r"(?::(?P<port>[0-9]{1,5}))?"
)
# Path characters of RFC 3986 (pchar and "/"), starting with "/": nothing that could end the
# path ("?", "#") or change the authority ("@" right after the host, without the "/").
_PREFIX_RE = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*")
_SCHEMES = ("http", "https")


def base_url(request: Request, settings: Settings) -> str:
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    # From the scope, not request.url: building a URL object costs more than this whole answer.
    scheme = request.scope.get("scheme", "http")
    host = request.headers.get("host")
    if host:
        _check_host(host, "Host")
    else:
        host = _server(request)
    prefix = ""
    if _trusted(request, settings.forwarded_allow_ips):
        headers = request.headers
        proto = _first(headers.get("x-forwarded-proto"))
        if proto:
            scheme = proto.lower()
            if scheme not in _SCHEMES:
                raise _invalid("X-Forwarded-Proto")
        forwarded_host = _first(headers.get("x-forwarded-host"))
        if forwarded_host:
            host = _check_host(forwarded_host, "X-Forwarded-Host")
        prefix = (_first(headers.get("x-forwarded-prefix")) or "").rstrip("/")
        if len(prefix) > MAX_PREFIX_CHARS or not _PREFIX_RE.fullmatch(prefix):
            raise _invalid("X-Forwarded-Prefix")
    return f"{scheme}://{host}{prefix}"


def _check_host(host: str, header: str) -> str:
    """`host` when it is `host[:port]` of a sane length, else the 400 naming `header`."""
    match = _HOST_RE.fullmatch(host) if len(host) <= MAX_HOST_CHARS else None
    if match is None or (match["port"] is not None and int(match["port"]) > 65535):
        raise _invalid(header)
    return host


def _invalid(header: str) -> HTTPException:
    return HTTPException(status_code=400, detail=f"Invalid {header} header")


def _server(request: Request) -> str:
    server = request.scope.get("server") or ("localhost", 80)
    return f"{server[0]}:{server[1]}"


def _trusted(request: Request, allowed: list[str]) -> bool:
    peer = request.client.host if request.client else None
    return "*" in allowed or (peer is not None and peer in allowed)


def _first(value: str | None) -> str | None:
    # A chain of proxies appends; the first entry is what the client used.
    return value.split(",")[0].strip() if value else None
