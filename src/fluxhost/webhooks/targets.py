"""SSRF guard for webhook targets, in webhook terms (the guard itself: fluxhost.netguard).

Two checks: `check_url_literal` at submit time (no DNS, so a submit never blocks on a resolver)
and `resolve_target` at delivery time, which resolves the name, refuses if *any* address is
disallowed, and pins the connection to one checked address (see netguard.guard on why)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import httpx

from fluxhost.netguard.guard import (
    BadUrl,
    PinnedTarget,
    address_refusal,
    first_refused,
    is_local_name,
    parse_ip_literal,
    resolve,
    split_url,
)

__all__ = [
    "ResolvedTarget",
    "TargetRefused",
    "address_refusal",
    "check_url_literal",
    "resolve_target",
    "target_key",
]


class TargetRefused(Exception):
    """The webhook target may not be contacted; permanent, retrying will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ResolvedTarget(PinnedTarget):
    """A checked webhook target, pinned to `ip`."""

    def build_request(
        self, client: httpx.Client, *, content: bytes, headers: dict[str, str]
    ) -> httpx.Request:
        """The delivery's POST to the pinned address, presenting the original host name."""
        return self.request(client, "POST", content=content, headers=headers)


def check_url_literal(url: str, allow_private: bool) -> str | None:
    """Why `url` may not be used as a webhook target, or None. No DNS lookups.

    Only catches what can be told from the URL alone (IP literals, localhost names); names are
    checked again, with their resolved addresses, by `resolve_target` at delivery time."""
    try:
        _scheme, host, _port = _split(url)
    except TargetRefused as exc:
        return exc.reason
    if allow_private:
        return None
    if is_local_name(host):
        return f"webhook host {host!r} is the local host; private targets are not allowed"
    addr = parse_ip_literal(host)
    if addr is not None:
        why = address_refusal(addr)
        if why:
            shown = host if host == str(addr) else f"{host} ({addr})"
            return f"webhook address {shown} is {why}; private targets are not allowed"
    return None


def resolve_target(url: str, allow_private: bool) -> ResolvedTarget:
    """Resolve and check `url`'s host. Raises `TargetRefused` (permanent) when the URL or any
    address it resolves to is disallowed, `OSError` (temporary) when resolution fails."""
    reason = check_url_literal(url, allow_private)
    if reason:
        raise TargetRefused(reason)
    scheme, host, port = _split(url)
    addresses = resolve(host, port, _getaddrinfo)
    if not addresses:
        raise OSError(f"webhook host {host!r} resolved to no addresses")
    refused = None if allow_private else first_refused(addresses)
    if refused is not None:
        ip, why = refused
        raise TargetRefused(
            f"webhook host {host!r} resolves to {ip}, which is {why}; "
            "private targets are not allowed"
        )
    return ResolvedTarget(
        url=url, scheme=scheme, host=host, port=port, ip=addresses[0], addresses=addresses
    )


def target_key(url: str) -> str:
    """`url`'s "host:port", the unit the dispatcher limits concurrency by (no DNS). A URL that
    does not parse is its own key: its delivery fails at once, without any connection."""
    try:
        _scheme, host, port = _split(url)
    except TargetRefused:
        return url
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _split(url: str) -> tuple[str, str, int]:
    try:
        return split_url(url)
    except BadUrl as exc:
        raise TargetRefused(f"webhook URL {exc.reason}") from None


# Indirection so tests can stand in a resolver without sending DNS traffic: looked up here at
# each call, so monkeypatching this module's name takes effect.
_getaddrinfo = socket.getaddrinfo
