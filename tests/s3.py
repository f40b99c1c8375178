"""A real S3-protocol server for the tests: moto's standalone server (`python -m moto.server`)
in its own process on a loopback port, spoken to over HTTP by the same client code that talks
to AWS S3 or MinIO. Nothing is mocked in-process.

Credentials are moto's dummies, put in this process's environment (which the e2e nodes
inherit), so the store's real credential chain is what finds them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def moto_available() -> bool:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def s3_server_process() -> Iterator[str]:
    """Yields the endpoint URL (http://127.0.0.1:PORT) of a running moto server."""
    with s3_server_and_process() as (endpoint, _):
        yield endpoint


@contextmanager
def s3_server_and_process() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The endpoint URL and the server's process, for a test that stops, freezes (SIGSTOP)
    or kills its own object store; always stopped (and resumed first) on the way out."""
    from tests.e2e.harness import free_port

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="fluxhost-s3-")) / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                 "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    try:
        _wait(endpoint, proc, log)
        yield endpoint, proc
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a frozen server would ignore SIGTERM
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait(endpoint: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        # moto loads its S3 backend on the first S3 request (seconds on a loaded machine):
        # pay that here, once, rather than in whichever test asks first.
        httpx.get(f"{endpoint}/", timeout=max(5.0, deadline - time.monotonic() + 60))
        return
    raise RuntimeError(f"moto server did not come up: {log.read_text(errors='replace')[-2000:]}")


def create_bucket(endpoint: str) -> str:
    """A fresh bucket; returns `s3://BUCKET/PREFIX` (a prefix, so prefixes are exercised)."""
    bucket = f"fluxhost-{uuid.uuid4().hex[:12]}"
    # moto accepts an unsigned CreateBucket; the store under test signs everything it sends.
    httpx.put(f"{endpoint}/{bucket}", timeout=60).raise_for_status()
    return f"s3://{bucket}/fleet/blobs"


def list_keys(endpoint: str, url: str) -> list[str]:
    """Every key under the URL's prefix, relative to it."""
    import obstore
    from obstore.store import S3Store

    from fluxhost.storage.s3 import parse_s3_url

    bucket, prefix = parse_s3_url(url)
    store = S3Store(bucket, prefix=prefix, endpoint=endpoint,
                    client_options={"allow_http": True})
    return sorted(meta["path"] for batch in obstore.list(store) for meta in batch)


def files_under(root: Path) -> list[Path]:
    """Regular files under a directory (none if it does not exist)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
