"""The SSRF guard. Nothing here sends traffic: resolution is stood in for where a name is used."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from fluxhost.webhooks import targets
from fluxhost.webhooks.targets import TargetRefused, check_url_literal, resolve_target

REFUSED = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://127.9.9.9:8080/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::1]:9000/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://172.16.0.1/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[fd00::1]/hook", "private"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://[::]/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://[ff02::1]/hook", "multicast"),
    ("http://240.0.0.1/hook", "private"),
    ("http://100.64.0.1/hook", "non-public"),
    ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped form of 127.0.0.1, a loopback"),
    ("http://[::ffff:10.0.0.1]/hook", "IPv4-mapped form of 10.0.0.1, a private"),
    ("http://[::ffff:169.254.169.254]/hook", "link-local"),
    ("http://[64:ff9b::7f00:1]/hook", "NAT64 form of 127.0.0.1"),
    ("http://[2002:a00:1::]/hook", "6to4 form of 10.0.0.1"),
    # Forms a resolver reads as IPv4 although ipaddress does not.
    ("http://2130706433/hook", "loopback"),
    ("http://127.1/hook", "loopback"),
    ("http://0x7f.0.0.1/hook", "loopback"),
    ("http://0/hook", "unspecified"),
    ("http://localhost/hook", "local host"),
    ("http://LOCALHOST:8000/hook", "local host"),
    ("http://localhost./hook", "local host"),
    ("https://api.localhost/hook", "local host"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_refuses_non_public_literals(url: str, why: str) -> None:
    reason = check_url_literal(url, allow_private=False)
    assert reason is not None
    assert why in reason
    assert "not allowed" in reason


@pytest.mark.parametrize(("url", "_why"), REFUSED)
def test_allow_private_lifts_address_checks(url: str, _why: str) -> None:
    assert check_url_literal(url, allow_private=True) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8/hook",
        "https://8.8.8.8:8443/hook?token=abc",
        "https://[2606:4700:4700::1111]/hook",
        "http://[::ffff:8.8.8.8]/hook",
        "http://[64:ff9b::808:808]/hook",
        "https://hooks.example.com/a/b",
        "https://bücher.example/hook",
        "http://face.cafe/hook",
    ],
)
def test_allows_public_literals_and_names(url: str) -> None:
    assert check_url_literal(url, allow_private=False) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://8.8.8.8/hook", "scheme must be http or https, not 'ftp'"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("example.com/hook", "scheme"),
        ("http:///hook", "no host"),
        ("http://exa mple.com/", "not a valid host name"),
        ("http://exa%20mple.com/", "not a valid host name"),
        ("http://h.example:99999/", "out of range"),
        ("http://0177.0.0.1/", "not a valid URL"),  # httpx refuses octal; so do we
        ("http://[::1/", "not a valid URL"),
    ],
)
def test_refuses_bad_urls_even_when_private_allowed(url: str, why: str) -> None:
    reason = check_url_literal(url, allow_private=True)
    assert reason is not None and why in reason


def test_reason_names_the_address() -> None:
    reason = check_url_literal("http://2130706433/x", allow_private=False)
    assert reason is not None and "2130706433 (127.0.0.1)" in reason


def _fake_resolver(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]
) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        calls.append((host, port))
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port, 0, 0) if ":" in ip else (ip, port),
            )
            for ip in answers[host]
        ]

    monkeypatch.setattr(targets, "_getaddrinfo", getaddrinfo)
    return calls


def test_resolve_pins_first_address(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_resolver(monkeypatch, {"hooks.example.com": ["93.184.216.34", "93.184.216.35"]})
    target = resolve_target("https://hooks.example.com/a?b=1", allow_private=False)
    assert calls == [("hooks.example.com", 443)]
    assert target.ip == "93.184.216.34"
    assert target.addresses == ("93.184.216.34", "93.184.216.35")
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 443)


def test_resolve_refuses_if_any_address_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    # A name that answers with a public and an internal address must not get through: the
    # client could connect to either.
    _fake_resolver(monkeypatch, {"rebind.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(TargetRefused, match=r"rebind\.example.*10\.0\.0\.7.*private"):
        resolve_target("http://rebind.example/hook", allow_private=False)


def test_resolve_refuses_mapped_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_resolver(monkeypatch, {"v6.example": ["::ffff:127.0.0.1"]})
    with pytest.raises(TargetRefused, match="loopback"):
        resolve_target("http://v6.example/hook", allow_private=False)


def test_resolve_allows_private_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_resolver(monkeypatch, {"intranet.example": ["10.0.0.7"]})
    assert resolve_target("http://intranet.example/", allow_private=True).ip == "10.0.0.7"


def test_resolve_refuses_literal_without_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_resolver(monkeypatch, {})
    with pytest.raises(TargetRefused):
        resolve_target("http://169.254.169.254/", allow_private=False)
    assert calls == []


def test_resolve_failure_is_oserror_not_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_resolver(monkeypatch, {})
    with pytest.raises(OSError) as info:
        resolve_target("http://nowhere.example/", allow_private=False)
    assert not isinstance(info.value, TargetRefused)


def test_https_request_goes_to_pinned_ip_with_real_name(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_resolver(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    target = resolve_target("https://hooks.example.com:8443/in?x=1", allow_private=False)
    with httpx.Client() as client:
        request = target.build_request(client, content=b"{}", headers={"X-A": "1"})
    assert str(request.url) == "https://93.184.216.34:8443/in?x=1"
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.headers["x-a"] == "1"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


def test_http_request_to_ipv6_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_resolver(monkeypatch, {"hooks.example.com": ["2606:4700::1"]})
    target = resolve_target("http://hooks.example.com/in", allow_private=False)
    with httpx.Client() as client:
        request = target.build_request(client, content=b"{}", headers={})
    assert request.url.host == "2606:4700::1"
    assert str(request.url).startswith("http://[2606:4700::1]")
    assert request.headers["host"] == "hooks.example.com"
    assert "sni_hostname" not in request.extensions
