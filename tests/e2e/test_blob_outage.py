"""The object store going away under a running server (`fluxhost serve` with an embedded
worker, on a real S3-protocol server in a process of this test's own): killed, the process is
gone and connections are refused; frozen with SIGSTOP, connections are accepted and never
answered, the worse case.

The API answers 503 with Retry-After within BLOB_REQUEST_TIMEOUT_SECONDS and keeps answering
everything else meanwhile; a worker retries the result's write while it holds the task, so an
outage shorter than BLOB_RETRY_SECONDS loses no image, and a longer one ends the task Error with
a reason that names no endpoint, bucket or key."""

from __future__ import annotations

import base64
import io
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.e2e.harness import Node, wait_for
from tests.e2e.test_training import training_zip
from tests.s3 import create_bucket, moto_available, s3_server_and_process

pytestmark = [pytest.mark.service, pytest.mark.slow]

UNAVAILABLE = "Service unavailable: the blob store did not answer; retry later"
UNSTORED = "could not store the result: the blob store is unavailable"


@pytest.fixture
def own_s3() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """An S3 server for this test alone (it is killed or frozen), with its process."""
    if not moto_available():
        pytest.skip("moto[server] not installed (the dev extra installs it)")
    with s3_server_and_process() as (endpoint, proc):
        yield endpoint, proc


def png_b64(size: int = 64) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (30, 140, 200)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def start(tmp_path: Path, dev_model_dir: Path, endpoint: str,
          **env: str) -> tuple[Node, httpx.Client, str]:
    """A server with one embedded worker on a fresh bucket; its client and a key."""
    url = create_bucket(endpoint)
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir, extra_env={
        "FLUXHOST_BLOB_URL": url, "FLUXHOST_S3_ENDPOINT_URL": endpoint, **env})
    node.data_dir.mkdir(parents=True)
    key = node.cli("keys", "create", "outage")
    node.serve(workers=1)
    client = httpx.Client(base_url=node.url, headers={"x-key": key}, timeout=60)
    return node, client, url


def text_task(client: httpx.Client) -> str:
    r = client.post("/v1/flux-dev", json={"prompt": "a lighthouse", "width": 256,
                                          "height": 256, "steps": 2})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def image_submit(client: httpx.Client) -> httpx.Response:
    """A submission with an input image: its put is the request's blob step."""
    return client.post("/v1/flux-pro-1.0-canny", json={
        "prompt": "a lighthouse", "control_image": png_b64(), "steps": 15})


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json() == {"detail": UNAVAILABLE}
    assert int(r.headers["retry-after"]) > 0


def assert_discreet(reason: str, endpoint: str, url: str) -> None:
    """One bounded line naming no endpoint, bucket, prefix or blob key."""
    bucket = url.split("/")[2]
    assert "\n" not in reason and len(reason) <= 300, reason
    for secret in (endpoint, endpoint.removeprefix("http://"), bucket, "fleet/blobs",
                   "results/", "s3://"):
        assert secret not in reason, (secret, reason)


def logs(node: Node) -> str:
    """Every log line of the node's processes (Node.logs keeps only their tails)."""
    return "\n".join(p.read_text(errors="replace") for p in sorted(node.data_dir.glob("*.log")))


def wait_logged(node: Node, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in logs(node):
        assert time.monotonic() < deadline, f"{text!r} never logged: {node.logs()}"
        time.sleep(0.1)


def test_store_killed(tmp_path: Path, dev_model_dir: Path,
                      own_s3: tuple[str, subprocess.Popen[bytes]]) -> None:
    """Killed store: a submission with an image is a quick 503 (it was a 500), everything that
    needs no blob keeps working, a download and a finetune upload are 503s too, and a result
    that cannot be written for the whole retry budget ends its task Error with a discreet
    one-line reason."""
    endpoint, s3 = own_s3
    node, client, url = start(tmp_path, dev_model_dir, endpoint,
                              FLUXHOST_BLOB_REQUEST_TIMEOUT_SECONDS="5",
                              FLUXHOST_BLOB_WORKER_TIMEOUT_SECONDS="5",
                              FLUXHOST_BLOB_RETRY_SECONDS="3")
    try:
        done = wait_for(client, text_task(client), timeout=120)
        assert done["status"] == "Ready", done
        sample = done["result"]["sample"]
        s3.kill()
        s3.wait(10)

        began = time.monotonic()
        assert_unavailable(image_submit(client))
        assert time.monotonic() - began < 30  # refused connections: at once, not minutes
        assert client.get("/health").status_code == 200
        assert wait_for(client, done["id"], timeout=10)["status"] == "Ready"  # polls work
        assert_unavailable(client.get(sample))  # the URL stays good for a later retry
        assert_unavailable(client.post("/v1/finetune", json={  # its upload is a blob too
            "file_data": training_zip(), "finetune_comment": "outage", "mode": "style"}))
        assert client.get("/v1/my_finetunes").json() == {"finetunes": []}  # nothing queued

        failed = wait_for(client, text_task(client), timeout=120)
        assert failed["status"] == "Error", failed
        assert failed["details"]["error"] == UNSTORED
        assert_discreet(failed["details"]["error"], endpoint, url)
        assert "storing the result: the blob store failed" in logs(node)  # the detail: logged
    finally:
        client.close()
        node.stop_all()


def test_store_frozen_then_back(tmp_path: Path, dev_model_dir: Path,
                                own_s3: tuple[str, subprocess.Popen[bytes]]) -> None:
    """Frozen store (SIGSTOP: connections accepted, never answered): a submission with an image
    is a 503 within the request budget while /health stays fast throughout (the orphan input's
    clean-up runs in the background); a result written while it is frozen is retried until
    it is back (SIGCONT), and the task ends Ready with its image."""
    endpoint, s3 = own_s3
    budget = 8.0
    node, client, _url = start(tmp_path, dev_model_dir, endpoint,
                              FLUXHOST_BLOB_REQUEST_TIMEOUT_SECONDS=str(budget),
                              FLUXHOST_BLOB_WORKER_TIMEOUT_SECONDS="3",
                              FLUXHOST_BLOB_RETRY_SECONDS="120")
    try:
        s3.send_signal(signal.SIGSTOP)
        answer: dict[str, Any] = {}

        def submit() -> None:
            began = time.monotonic()
            answer["response"] = image_submit(client)
            answer["seconds"] = time.monotonic() - began

        submitter = threading.Thread(target=submit)
        submitter.start()
        # The submission and then its clean-up each wait out the budget on the frozen store;
        # /health must answer throughout (4 s: "did not hang", well under the 8 s budget).
        polls = 0
        watch_until = time.monotonic() + 3 * budget
        while submitter.is_alive() or time.monotonic() < watch_until:
            r = httpx.get(f"{node.url}/health", timeout=4)
            assert r.status_code == 200
            polls += 1
            time.sleep(0.2)
        submitter.join()
        assert_unavailable(answer["response"])
        assert answer["seconds"] < budget + 20, answer  # the budget, not the client's 120 s
        assert polls > 10

        task = text_task(client)  # needs no blob to be accepted
        wait_logged(node, "storing the result failed (attempt 1)")
        s3.send_signal(signal.SIGCONT)
        done = wait_for(client, task, timeout=180)
        assert done["status"] == "Ready", done  # the image was kept and written
        image = client.get(done["result"]["sample"])
        assert image.status_code == 200
        Image.open(io.BytesIO(image.content)).verify()

        r = image_submit(client)  # and submissions with images work again
        assert r.status_code == 200, r.text
        assert wait_for(client, r.json()["id"], timeout=120)["status"] == "Ready"
    finally:
        client.close()
        node.stop_all()
