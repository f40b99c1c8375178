"""SSRF guard for webhook targets.

Two checks: `check_url_literal` at submit time (no DNS, so a submit never blocks on a resolver)
and `resolve_target` at delivery time, which resolves the name, refuses if *any* address is
disallowed, and pins the connection to one checked address. Pinning matters: if we checked the
name and then let the HTTP client resolve it again, a rebinding DNS server could answer with a
public address for the check and 127.0.0.1 for the connect."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Names that resolve to the local host without asking DNS (RFC 6761 reserves *.localhost).
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

# What inet_aton would read as an IPv4 address: decimal/octal/hex parts, 1 to 4 of them.
# Checked first because inet_aton itself ignores trailing garbage after whitespace.
_INET_ATON_FORM = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")

# LDH labels, plus "_" which real DNS names do carry. IDNA hosts arrive here already as xn--.
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class TargetRefused(Exception):
    """The webhook target may not be contacted; permanent, retrying will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ResolvedTarget:
    """A checked webhook target, pinned to `ip`."""

    url: str  # as submitted
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    ip: str  # the address we connect to
    addresses: tuple[str, ...]  # everything the name resolved to (all of them were checked)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"

    @property
    def pinned_url(self) -> httpx.URL:
        return httpx.URL(self.url).copy_with(host=self.ip, port=self.port)

    def build_request(
        self, client: httpx.Client, *, content: bytes, headers: dict[str, str]
    ) -> httpx.Request:
        """A POST to the pinned address that still presents (and, for https, verifies) the
        original host name."""
        extensions: dict[str, Any] = {}
        if self.scheme == "https" and not _is_ip_literal(self.host):
            # httpcore passes this as server_hostname: SNI and certificate checks use the real
            # name although the socket goes to the pinned IP.
            extensions["sni_hostname"] = self.host
        return client.build_request(
            "POST",
            self.pinned_url,
            content=content,
            headers={**headers, "Host": self.host_header},
            extensions=extensions,
        )


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
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return f"webhook host {host!r} is the local host; private targets are not allowed"
    addr = _parse_ip_literal(host)
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
    infos = _getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = str(sockaddr[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise OSError(f"webhook host {host!r} resolved to no addresses")
    if not allow_private:
        for ip in addresses:
            why = address_refusal(ipaddress.ip_address(ip))
            if why:
                raise TargetRefused(
                    f"webhook host {host!r} resolves to {ip}, which is {why}; "
                    "private targets are not allowed"
                )
    # getaddrinfo already orders by RFC 6724 preference; take its first choice.
    return ResolvedTarget(
        url=url, scheme=scheme, host=host, port=port, ip=addresses[0], addresses=tuple(addresses)
    )


def target_key(url: str) -> str:
    """`url`'s "host:port", the unit the dispatcher limits concurrency by (no DNS). A URL that
    does not parse is its own key: its delivery fails at once, without any connection."""
    try:
        _scheme, host, port = _split(url)
    except TargetRefused:
        return url
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def address_refusal(addr: IPAddress) -> str | None:
    """What kind of non-public address `addr` is ("a loopback address", ...), or None."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded, form = _embedded_ipv4(addr)
        if embedded is not None:
            why = address_refusal(embedded)
            return f"the {form} form of {embedded}, {why}" if why else None
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


def _split(url: str) -> tuple[str, str, int]:
    """(scheme, lowercase ASCII host without brackets or trailing dot, port)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise TargetRefused(f"webhook URL is not a valid URL: {exc}") from None
    scheme = parsed.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "none"
        raise TargetRefused(f"webhook URL scheme must be http or https, not {shown!r}")
    host = parsed.raw_host.decode("ascii").lower().strip("[]").rstrip(".")
    if not host:
        raise TargetRefused("webhook URL has no host")
    if not _HOST_NAME.match(host) and _parse_ip_literal(host) is None:
        raise TargetRefused(f"webhook URL host {host!r} is not a valid host name")
    port = parsed.port or _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise TargetRefused(f"webhook URL port {port} is out of range")
    return scheme, host, port


def _parse_ip_literal(host: str) -> IPAddress | None:
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


def _is_ip_literal(host: str) -> bool:
    return _parse_ip_literal(host) is not None


# Indirection so tests can stand in a resolver without sending DNS traffic.
_getaddrinfo = socket.getaddrinfo
