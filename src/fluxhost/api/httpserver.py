"""uvicorn, as `fluxhost serve` runs it: with a bound on the request line and headers.

uvicorn's httptools protocol buffers headers without limit (1 MiB was accepted, and a client
that keeps sending header lines holds ever more memory), and the app only sees them once they
are complete, too late to refuse. So the bound lives in the protocol: past `max_header_bytes`
of request line and headers the connection gets `431 {"detail": ...}` and is closed, before
any of it reaches the app."""

from __future__ import annotations

import json
from typing import Any

HEADER_TOO_LARGE = "Request header fields too large: the limit is {} bytes"


def http_protocol(max_header_bytes: int) -> Any:
    """A uvicorn `http` protocol class bounded at `max_header_bytes`; with no httptools, h11
    (whose own incomplete-event bound is set from the same figure by `uvicorn_options`)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return "h11"

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        # Once refused, the parser may still run through the rest of the chunk it holds:
        # every callback is then a no-op, so nothing is buffered and no request starts.
        _refused = False

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_bytes = 0

        def on_url(self, url: bytes) -> None:
            if self._within(len(url)):
                super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            if self._within(len(name) + len(value) + 4):  # ": " and CRLF
                super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if not self._refused:
                super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._refused:
                super().on_message_complete()

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def _within(self, n: int) -> bool:
            if self._refused:
                return False
            self._header_bytes += n
            if self._header_bytes <= max_header_bytes:
                return True
            self._refused = True
            self._send_431()
            return False

        def _send_431(self) -> None:
            body = json.dumps({"detail": HEADER_TOO_LARGE.format(max_header_bytes)}).encode()
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n"
                b"connection: close\r\n\r\n" + body)
            self.transport.close()

    return BoundedHttpToolsProtocol


def uvicorn_options(max_header_bytes: int) -> dict[str, Any]:
    protocol = http_protocol(max_header_bytes)
    return {"http": protocol, "h11_max_incomplete_event_size": max_header_bytes}
