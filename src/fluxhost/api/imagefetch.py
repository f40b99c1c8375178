"""Image URLs fetched at submit: the fields the contract documents as "base64 or URL"
(Kontext's input_image..input_image_4, FLUX.2's input_image..input_image_8) may carry an
http(s) URL, which is fetched here and then checked and stored exactly as the same image sent
base64 would be (api/images.py): the worker never sees a URL.

A client chooses where the server connects, so every fetch goes through the SSRF guard
(fluxhost.netguard): each hop's name is resolved once, refused if any address it resolves to
is not public (unless IMAGE_URL_ALLOW_PRIVATE), and the connection pinned to a checked address,
so DNS rebinding cannot switch it; no proxy, no keep-alive. Redirects are followed by hand, at
most MAX_REDIRECTS, each hop checked again. One deadline bounds the whole fetch (resolving,
connecting, every redirect and the body's last byte), and the body is capped at what one base64
image could carry. Fetches run in threads behind their own `DecodeLimiter` (not the decodes':
a slow server must not hold the threads images are decoded on), bounded per key.

Refusals are one line naming the field and the reason, nothing internal: no resolved
addresses, no exception text."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any

import httpx

from fluxhost.api.images import DecodeLimiter, Inputs, image_urls
from fluxhost.api.validation import field_error
from fluxhost.netguard.guard import (
    BadUrl,
    PinnedTarget,
    address_kind,
    is_local_name,
    parse_ip_literal,
    resolve,
    split_url,
)
from fluxhost.netguard.transport import DeadlineTransport, deadline
from fluxhost.settings import Settings

MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "fluxhost-image-fetch/1"
# getaddrinfo takes no timeout: names are resolved on these threads and waited for until the
# fetch's deadline. A resolver that hangs keeps at most this many threads, not one per request.
RESOLVER_THREADS = 8
_ONLY_PUBLIC = "; only public addresses are fetched"
_DIGITS = re.compile(r"[0-9]{1,20}")

_resolvers = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="image-url-dns")


class FetchFailed(Exception):
    """The URL could not be fetched; `reason` is what the client is told, after the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def byte_cap(max_body_bytes: int) -> int:
    """The most bytes one image may have when sent base64: a body of MAX_BODY_BYTES holding
    nothing but that image's base64 (4 characters per 3 bytes). A URL may carry no more."""
    return max_body_bytes * 3 // 4


class ImageFetcher:
    """Fetches image URLs; `fetch` blocks (call it off the event loop) and is thread-safe."""

    def __init__(self, *, timeout: float, connect_timeout: float, max_bytes: int,
                 allow_private: bool, verify: ssl.SSLContext | bool = True) -> None:
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self._client = httpx.Client(
            # Per socket operation; the fetch's deadline (netguard.transport) bounds their sum.
            timeout=httpx.Timeout(timeout, connect=self.connect_timeout),
            # Followed by hand, so that every hop goes through the guard.
            follow_redirects=False,
            # Proxy variables would route around the address pinning.
            trust_env=False,
            transport=DeadlineTransport(verify=verify),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageFetcher:
        return cls(timeout=settings.image_url_timeout_seconds,
                   connect_timeout=settings.image_url_connect_timeout_seconds,
                   max_bytes=byte_cap(settings.max_body_bytes),
                   allow_private=settings.image_url_allow_private)

    def close(self) -> None:
        self._client.close()

    def fetch(self, url: str) -> bytes:
        """The body of a 200 answer to GET `url`, redirects followed; `FetchFailed` else."""
        until = time.monotonic() + self.timeout
        with self._failures(until), deadline(self.timeout):
            for _hop in range(MAX_REDIRECTS + 1):
                target = self._target(url, until)
                response = self._send(target)
                try:
                    location = redirect_location(response, target.url)
                    if location is None:
                        return self._body(response)
                finally:
                    response.close()  # a redirect's body is of no interest
                url = location
        raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")

    @contextmanager
    def _failures(self, until: float) -> Iterator[None]:
        """httpx's errors as the client is told them: what happened, no exception text."""
        try:
            yield
        except httpx.TimeoutException as exc:
            # A connect that ran out of the deadline rather than its own bound is the deadline.
            if isinstance(exc, httpx.ConnectTimeout) and until - time.monotonic() > 0.1:
                raise FetchFailed(
                    f"could not connect within {self.connect_timeout:g} s") from None
            raise FetchFailed(f"timed out after {self.timeout:g} s") from None
        except httpx.ConnectError:
            raise FetchFailed("could not connect") from None
        except httpx.HTTPError:
            raise FetchFailed("the connection failed") from None

    def _target(self, url: str, until: float) -> PinnedTarget:
        """`url` checked by the guard and pinned to one of its checked addresses."""
        try:
            scheme, host, port = split_url(url)
        except BadUrl as exc:
            raise FetchFailed(f"the URL {exc.reason}") from None
        if not self.allow_private and is_local_name(host):
            raise FetchFailed(f"the host is the local host{_ONLY_PUBLIC}")
        literal = parse_ip_literal(host)
        addresses = (str(literal),) if literal is not None else self._resolve(host, port, until)
        if not self.allow_private:
            _refuse_non_public(addresses, "is" if literal is not None else "resolves to")
        return PinnedTarget(url=url, scheme=scheme, host=host, port=port, ip=addresses[0],
                            addresses=addresses)

    def _resolve(self, host: str, port: int, until: float) -> tuple[str, ...]:
        future = _resolvers.submit(resolve, host, port, _getaddrinfo)
        try:
            addresses = future.result(timeout=max(0.0, until - time.monotonic()))
        except FutureTimeout:
            future.cancel()  # if it has not started: the thread goes to the next name
            raise FetchFailed(f"timed out after {self.timeout:g} s") from None
        except OSError:
            raise FetchFailed("the host name does not resolve") from None
        if not addresses:
            raise FetchFailed("the host name does not resolve")
        return addresses

    def _send(self, target: PinnedTarget) -> httpx.Response:
        request = target.request(self._client, "GET", headers={
            "User-Agent": USER_AGENT,
            "Accept": "image/png, image/jpeg, image/webp",
            # The body is read raw (iter_raw) and capped as it arrives: a compressed one could
            # not be capped before it is inflated, and images do not compress anyway.
            "Accept-Encoding": "identity",
        })
        return self._client.send(request, stream=True, follow_redirects=False)

    def _body(self, response: httpx.Response) -> bytes:
        declared = content_length(response.headers.get("content-length"))
        if declared is not None and declared > self.max_bytes:
            raise FetchFailed(f"larger than {self.max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > self.max_bytes:  # a server that says less than it sends, or nothing
                raise FetchFailed(f"larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _refuse_non_public(addresses: tuple[str, ...], verb: str) -> None:
    # *Any* non-public address refuses the name: the client could have connected to either.
    # Only the kind is told: the address itself would map the internal network for a client.
    for ip in addresses:
        addr = parse_ip_literal(ip)
        kind = address_kind(addr) if addr is not None else "an address that is not an IP"
        if kind:
            raise FetchFailed(f"the host {verb} {kind}{_ONLY_PUBLIC}")


def redirect_location(response: httpx.Response, url: str) -> str | None:
    """The absolute URL a redirect points at; None for a 200; `FetchFailed` for any other
    answer (only 200 is an image; a redirect must say where)."""
    status = response.status_code
    if status in REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location:
            raise FetchFailed(f"HTTP {status} without a Location")
        try:
            return str(httpx.URL(url).join(location))
        except (httpx.InvalidURL, TypeError, ValueError):
            raise FetchFailed("the redirect's Location is not a valid URL") from None
    if status != 200:
        raise FetchFailed(f"HTTP {status}")
    return None


def content_length(value: str | None) -> int | None:
    """A Content-Length header's value, or None when absent or not a plain number (the body
    is capped as it is read anyway)."""
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value.strip())


async def fetch_urls(fetcher: ImageFetcher | None, limiter: DecodeLimiter, key: Any,
                     body: Inputs) -> tuple[dict[str, bytes | None], list[dict[str, Any]]]:
    """The body's image URLs fetched, in threads behind `limiter` (one key's fetches queue
    behind each other, not in front of other keys'): field -> bytes, or None where the fetch
    failed, with the 422 errors that say why. Nothing when fetching is off (`fetcher` None):
    `check_images` then refuses the URLs as before."""
    urls = image_urls(body)
    if fetcher is None or not urls:
        return {}, []
    outcomes = await asyncio.gather(
        *(limiter.run(key, fetcher.fetch, url) for url in urls.values()), return_exceptions=True)
    fetched: dict[str, bytes | None] = {}
    errors: list[dict[str, Any]] = []
    for (name, url), outcome in zip(urls.items(), outcomes, strict=True):
        if isinstance(outcome, FetchFailed):
            fetched[name] = None
            errors.append(fetch_error(name, url, outcome.reason))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            fetched[name] = outcome
    too_many = _check_total(fetched, urls, fetcher.max_bytes)
    if too_many:
        fetched = dict.fromkeys(fetched)  # all refused: nothing of them is decoded
    return fetched, errors + too_many


def _check_total(fetched: dict[str, bytes | None], urls: dict[str, str],
                 limit: int) -> list[dict[str, Any]]:
    """The request's fetched images together within what one body could carry base64, so a
    request of URLs stores no more than one of base64 images could."""
    total = sum(len(raw) for raw in fetched.values() if raw is not None)
    if total <= limit:
        return []
    name = next(reversed(urls))
    return [field_error(name, f"Value error, the request's fetched images ({', '.join(urls)}) "
                        f"are {total} bytes together, more than the limit of {limit}",
                        "value_error", None)]


def fetch_error(name: str, url: str, reason: str) -> dict[str, Any]:
    return field_error(name, f"Value error, could not fetch {name}: {reason}", "value_error",
                       url[:50] + ("..." if len(url) > 50 else ""))


# Indirection so tests can stand in a resolver without sending DNS traffic.
_getaddrinfo = socket.getaddrinfo
