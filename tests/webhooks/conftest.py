"""A real HTTP receiver on 127.0.0.1 and a SQLite store with finished tasks in it."""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from fluxhost.settings import Settings
from fluxhost.storage.signing import UrlSigner
from fluxhost.store.keys import create_key
from fluxhost.store.models import WebhookDelivery
from fluxhost.store.queue import Outcome, claim, finish
from fluxhost.store.store import Store
from fluxhost.store.tasks import submit_task

# A reply is (status, extra headers); or a callable run first (to block or stall) returning one.
Reply = tuple[int, dict[str, str]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    scheme: str = "http"
    replies: list[Reply | Callable[[], Reply]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.requests) >= count, timeout)
        assert ok, f"receiver got {len(self.requests)} requests, expected {count}"
        return list(self.requests)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        with self._cond:
            self.requests.append(
                Received(handler.path, {k.lower(): v for k, v in handler.headers.items()}, body)
            )
            reply = self.replies.pop(0) if self.replies else (200, {})
            self._cond.notify_all()
        if callable(reply):
            reply = reply()
        status, headers = reply
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
        except OSError:
            pass  # the client gave up (timeout tests)


def _start_receiver(ssl_context: ssl.SSLContext | None = None) -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver._handle(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(server, scheme="https" if ssl_context else "http")
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = _start_receiver()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def start_receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(ssl_context: ssl.SSLContext | None = None) -> Receiver:
        rec = _start_receiver(ssl_context)
        started.append(rec)
        return rec

    yield start
    for rec in started:
        rec.server.shutdown()
        rec.server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store.open(f"sqlite:///{tmp_path}/t.db")
    yield st
    st.dispose()


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner(b"x" * 32, 600)


READY_RESULT: dict[str, object] = {
    "prompt": "a cat on a mat",
    "seed": 42,
    "start_time": 1700000000.0,
    "end_time": 1700000003.5,
    "duration": 3.5,
}

# Helpers are handed out as fixtures (not imported from here) so the tests work under any
# pytest import mode.
MakeSettings = Callable[..., Settings]
FinishedTask = Callable[..., str]
DeliveryOf = Callable[[str], WebhookDelivery]


@pytest.fixture
def ready_result() -> dict[str, object]:
    return dict(READY_RESULT)


@pytest.fixture
def make_settings(tmp_path: Path) -> MakeSettings:
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path,
            "webhook_allow_private": True,
            "webhook_retry_schedule": [0.05, 0.05, 0.05],
            "webhook_timeout_seconds": 2.0,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def finished_task(store: Store) -> FinishedTask:
    def make(
        url: str,
        secret: str | None = "s3cret",
        outcome: Outcome | None = None,
        key_id: int | None = None,
    ) -> str:
        """Submit, claim and finish one task (for `key_id`, else for a new key); finish() writes
        its outbox row."""
        if key_id is None:
            key_id = create_key(store, f"key-{uuid.uuid4().hex[:8]}")[0].id
        task_id = submit_task(
            store,
            key_id=key_id,
            endpoint="flux-dev",
            params={"prompt": READY_RESULT["prompt"]},
            base_url="http://testserver",
            webhook_url=url,
            webhook_secret=secret,
            active_limit=100,
        )
        claimed = claim(store, "worker-1", lease_seconds=30, max_attempts=3, retention_seconds=3600)
        assert claimed is not None and claimed.id == task_id
        if outcome is None:
            outcome = Outcome("Ready", result=dict(READY_RESULT), blob_key="results/x.png")
        assert finish(store, task_id, "worker-1", outcome, retention_seconds=3600)
        return task_id

    return make


@pytest.fixture
def delivery_of(store: Store) -> DeliveryOf:
    def get(task_id: str) -> WebhookDelivery:
        with store.read() as s:
            row = s.scalar(select(WebhookDelivery).where(WebhookDelivery.task_id == task_id))
        assert row is not None
        return row

    return get
