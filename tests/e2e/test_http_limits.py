"""Bounds a real `fluxhost serve` enforces on the wire, below the app: request headers (a 1 MiB
header was accepted), and a body shorter than its Content-Length (it held the connection and
the request open for ever). Raw sockets on loopback, as a hostile client sends them."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Node

pytestmark = [pytest.mark.service]

MAX_HEADER_BYTES = 8192


@dataclass
class Server:
    node: Node
    key: str

    @property
    def port(self) -> int:
        return self.node.port

    @property
    def url(self) -> str:
        return self.node.url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path) -> Iterator[Server]:
    n = Node(data_dir=tmp_path_factory.mktemp("limits"), dev_model_dir=dev_model_dir)
    n.extra_env.update(FLUXHOST_MAX_HEADER_BYTES=str(MAX_HEADER_BYTES),
                       FLUXHOST_BODY_READ_TIMEOUT_SECONDS="1")
    key = n.cli("keys", "create", "limits")
    n.serve(workers=0)
    yield Server(n, key)
    n.stop_all()


def exchange(node: Server, head: bytes, body: bytes = b"", timeout: float = 30) -> bytes:
    """Send, then read until the server closes the connection (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + body)  # refused mid-send: the answer was written before the close
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                return data
            data += chunk
    return data


def status_and_body(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_oversized_headers_are_431_and_closed(server: Server) -> None:
    big = b"x" * (1024 * 1024)
    raw = exchange(server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + big
                   + b"\r\n\r\n")
    status, body = status_and_body(raw)
    assert status == 431
    assert body == {"detail": f"Request header fields too large: the limit is "
                              f"{MAX_HEADER_BYTES} bytes"}
    assert b"connection: close" in raw.lower()


def test_many_small_headers_count_together(server: Server) -> None:
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(200))  # ~22 KB
    raw = exchange(server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines + b"\r\n")
    assert status_and_body(raw)[0] == 431


def test_headers_within_the_bound_are_served(server: Server) -> None:
    r = httpx.get(f"{server.url}/health", headers={"X-Pad": "p" * (MAX_HEADER_BYTES // 2)})
    assert r.status_code == 200


def test_body_shorter_than_content_length_is_408_and_closed(server: Server) -> None:
    key = server.key
    head = (b"POST /v1/flux-dev HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            b"\r\nx-key: " + key.encode() + b"\r\nContent-Length: 1000\r\n\r\n")
    started = time.monotonic()
    raw = exchange(server, head, b'{"prompt": "a', timeout=60)
    status, body = status_and_body(raw)
    assert status == 408
    assert "nothing arrived for 1 s" in str(body["detail"])
    assert time.monotonic() - started < 30  # answered and closed, not held until our timeout
    # Nothing was stored, and the server serves the next request.
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_a_stalled_body_does_not_hold_up_other_requests(server: Server) -> None:
    key = server.key
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as stalled:
        stalled.sendall(b"POST /v1/flux-dev HTTP/1.1\r\nHost: 127.0.0.1\r\nx-key: "
                        + key.encode() + b"\r\nContent-Length: 50\r\n\r\n{")
        r = httpx.post(f"{server.url}/v1/flux-dev", headers={"x-key": key},
                       json={"prompt": "red apple"})
        assert r.status_code == 200
