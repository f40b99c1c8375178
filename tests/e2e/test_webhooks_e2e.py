"""Webhooks from a real server to a real receiver on loopback: body, signature, retry, and
delivery surviving a server that was killed before it could deliver."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fluxhost.webhooks.signature import verify_signature
from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, free_port, wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]


class Receiver:
    def __init__(self, port: int | None = None) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = receiver.fail_first > 0
                receiver.fail_first -= 1
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 60) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.calls) >= n, f"{len(self.calls)} of {n} webhook calls arrived"
        return self.calls

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_ready_webhook_body_and_signature(deployment: Deployment, receiver: Receiver) -> None:
    d = deployment
    r = d.submit(seed=8, webhook_url=receiver.url, webhook_secret="s3cret", prompt="hook")
    task_id = r.json()["id"]
    headers, raw = receiver.wait(1)[0]
    body = json.loads(raw)
    assert set(body) == {"id", "task_id", "status", "result", "progress", "details", "error"}
    assert body["id"] == body["task_id"] == task_id
    assert body["status"] == "SUCCESS" and body["error"] is None
    assert body["result"]["seed"] == 8 and body["result"]["prompt"] == "hook"
    assert headers["x-webhook-secret"] == "s3cret"
    assert headers["x-bfl-signature"].startswith("sha256=")
    assert verify_signature(raw, "s3cret", headers["x-bfl-signature"])
    assert headers["content-type"] == "application/json"
    image = d.client.get(body["result"]["sample"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert wait_for(d.client, task_id)["status"] == "Ready"


def test_error_webhook_and_no_secret(deployment: Deployment, receiver: Receiver) -> None:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (32, 32), (0, 0, 0, 255)).save(buf, "PNG")  # opaque: a blank mask
    r = deployment.client.post(
        "/v1/flux-pro-1.0-fill-finetuned", headers=deployment.headers,
        json={"finetune_id": deployment.finetune_id, "webhook_url": receiver.url,
              "image": base64.b64encode(buf.getvalue()).decode(), "steps": 15})
    headers, raw = receiver.wait(1)[0]
    body = json.loads(raw)
    assert body["id"] == r.json()["id"]
    assert body["status"] == "FAILED" and "mask is blank" in body["error"]
    assert "x-webhook-secret" not in headers and "x-bfl-signature" not in headers


def test_failed_delivery_is_retried(deployment: Deployment, receiver: Receiver) -> None:
    receiver.fail_first = 1
    deployment.submit(seed=9, webhook_url=receiver.url, webhook_secret="x")
    calls = receiver.wait(2, timeout=30)  # the default schedule retries after about 1 s
    assert calls[0][1] != b"" and json.loads(calls[1][1])["status"] == "SUCCESS"
    assert json.loads(calls[0][1])["id"] == json.loads(calls[1][1])["id"]


def wait_failed_attempt(node: Node, timeout: float = 30) -> None:
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        con = sqlite3.connect(node.data_dir / "fluxhost.db")
        row = con.execute("SELECT last_error FROM webhook_deliveries").fetchone()
        con.close()
        if row and row[0]:
            return
        time.sleep(0.05)
    raise AssertionError("the first delivery attempt never failed")


def test_delivery_survives_a_killed_server(node: Node, dev_lora_file: Path) -> None:
    key, ft = provision(node, dev_lora_file)
    port = free_port()  # nobody listens yet: the first attempt fails
    server = node.serve(workers=1)
    d = Deployment(node, key, ft)
    task_id = d.submit(seed=10, webhook_url=f"http://127.0.0.1:{port}/hook").json()["id"]
    assert wait_for(d.client, task_id)["status"] == "Ready"
    # Kill once the first attempt has failed and is recorded; a kill *during* an attempt is
    # recovered too, but only after that attempt's lease (timeout + 30 s) runs out.
    wait_failed_attempt(node)
    server.send_signal(signal.SIGKILL)
    server.wait(10)

    receiver = Receiver(port)
    try:
        node.serve(workers=0)
        calls = receiver.wait(1, timeout=30)
        assert json.loads(calls[0][1])["id"] == task_id
    finally:
        receiver.close()
