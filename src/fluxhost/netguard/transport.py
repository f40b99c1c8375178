"""An httpx transport whose requests end by a deadline, however slowly the server trickles.

httpx's timeouts bound each socket operation: a server that sends one byte of its status line
every few seconds never trips a read timeout, and holds the sending thread (a webhook delivery's,
an image URL fetch's) for as long as it likes. Here every socket operation of a request
(connect, TLS handshake, each send and recv) is given at most what is left of one deadline, set
per request with `deadline()`."""

from __future__ import annotations

import contextvars
import functools
import ssl
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager

import httpcore
import httpx

# A monotonic instant; None outside `deadline()` (plain per-operation timeouts).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "netguard_deadline", default=None
)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Requests sent inside this block, from this thread, end within `seconds` from now
    (connections are opened by the sending thread: the synchronous pool has no threads)."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _clamp(timeout: float | None, until: float | None, expired: type[Exception]) -> float | None:
    """`timeout`, cut to what is left before `until`; raise `expired` when nothing is left."""
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, until: float | None) -> None:
        self._stream = stream
        self._until = until

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, self._until, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, self._until, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # The handshake is one call; CPython bounds all of its reads and writes by one timeout.
        left = _clamp(timeout, self._until, httpcore.ConnectTimeout)
        tls = self._stream.start_tls(ssl_context, server_hostname, left)
        return _DeadlineStream(tls, self._until)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        until = _DEADLINE.get()
        left = _clamp(timeout, until, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, left, local_address, socket_options)
        return _DeadlineStream(stream, until)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.UnsupportedProtocol(
            f"guarded requests go over TCP, not the unix socket {path!r}")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


@functools.cache
def _system_context() -> ssl.SSLContext:
    """The system CAs' verifying context, made once per process: loading the CA bundle costs
    ~25 ms, which every transport (the webhook dispatcher's, the image fetcher's) paid twice at
    start. An SSLContext is safe to share between threads and connections."""
    return httpx.create_ssl_context(verify=True, trust_env=False)


class DeadlineTransport(httpx.HTTPTransport):
    """`httpx.HTTPTransport` without proxies, keep-alive or a unix socket, whose connections
    honour `deadline()`."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True) -> None:
        # A pooled TLS connection is verified for the name it was opened for; reusing it for
        # another name on the same pinned IP would skip that check. So: no keep-alive.
        ssl_context = _system_context() if verify is True else httpx.create_ssl_context(
            verify=verify, trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx takes no network backend: swap in a pool built with ours (covered by the
        # trickling-server tests, which would hang past the deadline if this stopped working).
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            # The callers' threads bound the connections; a pool cap would only add waits.
            max_connections=None,
            max_keepalive_connections=0,
            network_backend=_DeadlineBackend(),
        )
