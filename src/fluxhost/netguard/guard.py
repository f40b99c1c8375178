"""The SSRF guard's parts, shared by webhooks (webhooks/targets.py) and image URLs
(api/imagefetch.py); each caller words its own refusals.

A name is resolved once and the connection pinned to one of the checked addresses. Pinning
matters: if we checked the name and then let the HTTP client resolve it again, a rebinding DNS
server could answer with a public address for the check and 127.0.0.1 for the connect."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# socket.getaddrinfo's shape; callers pass their own so tests can stand in a resolver.
Resolver = Callable[..., list[Any]]

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

# Names that resolve to the local host without asking DNS (RFC 6761 reserves *.localhost).
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

# What inet_aton would read as an IPv4 address: decimal/octal/hex parts, 1 to 4 of them.
# Checked first because inet_aton itself ignores trailing garbage after whitespace.
_INET_ATON_FORM = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")

# LDH labels, plus "_" which real DNS names do carry. IDNA hosts arrive here already as xn--.
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BadUrl(Exception):
    """The URL cannot be used at all; `reason` reads after "URL" ("has no host")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PinnedTarget:
    """A checked URL, pinned to `ip`."""

    url: str  # as given
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    ip: str  # the address we connect to
    addresses: tuple[str, ...]  # everything the name resolved to (all of them were checked)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"

    @property
    def pinned_url(self) -> httpx.URL:
        return httpx.URL(self.url).copy_with(host=self.ip, port=self.port)

    def request(self, client: httpx.Client, method: str, *, headers: dict[str, str],
                content: bytes | None = None) -> httpx.Request:
        """A request to the pinned address that still presents (and, for https, verifies) the
        original host name."""
        extensions: dict[str, Any] = {}
        if self.scheme == "https" and parse_ip_literal(self.host) is None:
            # httpcore passes this as server_hostname: SNI and certificate checks use the real
            # name although the socket goes to the pinned IP.
            extensions["sni_hostname"] = self.host
        return client.build_request(
            method,
            self.pinned_url,
            content=content,
            headers={**headers, "Host": self.host_header},
            extensions=extensions,
        )


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, lowercase ASCII host without brackets or trailing dot, port); `BadUrl` for a
    URL that is not http(s) to a well-formed host and port. No DNS."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise BadUrl(f"is not a valid URL: {exc}") from None
    scheme = parsed.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "none"
        raise BadUrl(f"scheme must be http or https, not {shown!r}")
    host = parsed.raw_host.decode("ascii").lower().strip("[]").rstrip(".")
    if not host:
        raise BadUrl("has no host")
    if not _HOST_NAME.match(host) and parse_ip_literal(host) is None:
        raise BadUrl(f"host {host!r} is not a valid host name")
    port = parsed.port or DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise BadUrl(f"port {port} is out of range")
    return scheme, host, port


def is_local_name(host: str) -> bool:
    """Whether `host` names the local host without asking DNS."""
    return host in _LOCAL_NAMES or host.endswith(".localhost")


def resolve(host: str, port: int, getaddrinfo: Resolver) -> tuple[str, ...]:
    """Every address `host` resolves to, in the resolver's order (RFC 6724 preference: the
    first is the one to pin); maybe none. `OSError` when resolution fails."""
    infos = getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = str(sockaddr[0])
        if ip not in addresses:
            addresses.append(ip)
    return tuple(addresses)


def first_refused(addresses: tuple[str, ...]) -> tuple[str, str] | None:
    """(address, why) for the first address that is not public, or None. *Any* one refuses the
    name: the client could connect to either."""
    for ip in addresses:
        why = address_refusal(ipaddress.ip_address(ip))
        if why:
            return ip, why
    return None


def address_refusal(addr: IPAddress) -> str | None:
    """What kind of non-public address `addr` is ("a loopback address", "the IPv4-mapped form
    of 10.0.0.1, a private address", ...), or None."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded, form = _embedded_ipv4(addr)
        if embedded is not None:
            why = address_kind(embedded)
            return f"the {form} form of {embedded}, {why}" if why else None
    return address_kind(addr)


def address_kind(addr: IPAddress) -> str | None:
    """`address_refusal` without the embedded address: only the kind ("a private address"),
    for answers that must not tell a client what an internal name resolves to."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded, _form = _embedded_ipv4(addr)
        if embedded is not None:
            return address_kind(embedded)
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_private:
        return "a private address"
    if addr.is_reserved:
        return "a reserved address"
    if not addr.is_global:
        # e.g. 100.64.0.0/10 (carrier-grade NAT): not "private" to ipaddress, not public either.
        return "a non-public (special-purpose) address"
    return None


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    # ipaddress calls all of ::ffff:0:0/96 private, which would refuse ::ffff:8.8.8.8; and it
    # calls 64:ff9b::/96 reserved, which would refuse every host on a DNS64 network. Judge the
    # IPv4 address these forms actually reach instead.
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped, "IPv4-mapped"
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF), "NAT64"
    if addr.sixtofour is not None:
        return addr.sixtofour, "6to4"
    return None, ""


def parse_ip_literal(host: str) -> IPAddress | None:
    """`host` as an IP address if it is one in any form a resolver would accept ("127.1",
    "2130706433", "0x7f.0.0.1", "[::1]"), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _INET_ATON_FORM.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None
