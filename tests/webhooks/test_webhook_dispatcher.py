"""The dispatcher against a real HTTP(S) receiver on 127.0.0.1. No traffic leaves the host."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from fluxhost.storage.signing import DELIVERY_PREFIX, UrlSigner
from fluxhost.store.models import Task, WebhookDelivery
from fluxhost.store.queue import Outcome
from fluxhost.store.store import Store
from fluxhost.webhooks import WebhookDispatcher, targets, verify_signature

PAYLOAD_KEYS = {"id", "task_id", "status", "result", "progress", "details", "error"}


@pytest.fixture
def dispatcher_for(
    store: Store, signer: UrlSigner, make_settings: Callable[..., Any]
) -> Iterator[Callable[..., WebhookDispatcher]]:
    made: list[WebhookDispatcher] = []

    def make(
        verify: Any = True, idle_poll_seconds: float = 1.0, **overrides: Any
    ) -> WebhookDispatcher:
        d = WebhookDispatcher(
            store,
            signer,
            make_settings(**overrides),
            owner=f"test-{len(made)}",
            verify=verify,
            idle_poll_seconds=idle_poll_seconds,
        )
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def drain(
    dispatcher: WebhookDispatcher,
    delivery_of: Callable[[str], WebhookDelivery],
    task_id: str,
    timeout: float = 5.0,
) -> WebhookDelivery:
    """run_once until the delivery leaves `pending` (retries are due 50 ms apart here)."""
    deadline = time.monotonic() + timeout
    while True:
        dispatcher.run_once()
        row = delivery_of(task_id)
        if row.state != "pending":
            return row
        assert time.monotonic() < deadline, f"still pending: {row.last_error}"
        time.sleep(0.01)


def sample_is_signed(signer: UrlSigner, sample: str) -> None:
    parts = urlsplit(sample)
    assert f"{parts.scheme}://{parts.netloc}" == "http://testserver"
    assert parts.path == f"{DELIVERY_PREFIX}results/x.png"
    query = parse_qs(parts.query)
    assert signer.verify("results/x.png", query["exp"][0], query["sig"][0]) is None


def test_ready_delivered_with_exact_body_and_signature(
    receiver: Any,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
    signer: UrlSigner,
    ready_result: dict[str, Any],
) -> None:
    task_id = finished_task(receiver.url("/hook?token=abc"), secret="s3cret")
    dispatcher = dispatcher_for()

    assert dispatcher.run_once() == 1

    [req] = receiver.wait_for(1)
    assert req.path == "/hook?token=abc"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"] == "fluxhost-webhooks/1"
    assert req.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert req.headers["x-webhook-secret"] == "s3cret"
    assert verify_signature(req.body, "s3cret", req.headers["x-bfl-signature"])

    body = json.loads(req.body)
    assert set(body) == PAYLOAD_KEYS
    assert body["id"] == body["task_id"] == task_id
    assert body["status"] == "SUCCESS"
    assert body["error"] is None
    assert body["progress"] is None
    result = body["result"]
    sample_is_signed(signer, result.pop("sample"))
    assert result == ready_result

    row = delivery_of(task_id)
    assert (row.state, row.attempts, row.last_error) == ("delivered", 1, None)
    assert row.delivered_at is not None and row.lease_owner is None
    # Nothing left to do.
    assert dispatcher.run_once() == 0
    assert len(receiver.requests) == 1


def test_error_task_is_failed_with_error_text_and_no_secret_headers(
    receiver: Any,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
) -> None:
    outcome = Outcome("Error", details={"error": "CUDA out of memory"})
    task_id = finished_task(receiver.url(), secret=None, outcome=outcome)
    dispatcher = dispatcher_for()
    dispatcher.run_once()

    [req] = receiver.wait_for(1)
    assert "x-webhook-secret" not in req.headers
    assert "x-bfl-signature" not in req.headers
    body = json.loads(req.body)
    assert set(body) == PAYLOAD_KEYS
    assert body["id"] == body["task_id"] == task_id
    assert body["status"] == "FAILED"
    assert body["error"] == "CUDA out of memory"
    assert body["result"] is None
    assert body["details"] == {"error": "CUDA out of memory"}
    assert delivery_of(task_id).state == "delivered"


def test_retries_until_2xx_with_fresh_signature_each_time(
    receiver: Any,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
) -> None:
    receiver.replies = [(500, {}), (500, {}), (200, {})]
    task_id = finished_task(receiver.url(), secret="s3cret")
    dispatcher = dispatcher_for(webhook_retry_schedule=[0.05, 0.05, 0.05])

    row = drain(dispatcher, delivery_of, task_id)

    assert (row.state, row.attempts, row.last_error) == ("delivered", 3, None)
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    for req in requests:
        assert verify_signature(req.body, "s3cret", req.headers["x-bfl-signature"])


def test_schedule_exhausted_goes_dead(
    receiver: Any,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.replies = [(503, {})] * 10
    task_id = finished_task(receiver.url(), secret="very-secret-value")
    dispatcher = dispatcher_for(webhook_retry_schedule=[0.05, 0.05])

    with caplog.at_level(logging.INFO, logger="fluxhost.webhooks"):
        row = drain(dispatcher, delivery_of, task_id)

    # The schedule's length is the number of retries: 1 attempt + 2 retries.
    assert (row.state, row.attempts) == ("dead", 3)
    assert row.last_error == "HTTP 503 Service Unavailable"
    assert len(receiver.requests) == 3
    time.sleep(0.1)
    assert dispatcher.run_once() == 0
    assert len(receiver.requests) == 3

    attempts = [r for r in caplog.records if getattr(r, "task_id", None) == task_id]
    assert [r.attempt for r in attempts] == [1, 2, 3]  # type: ignore[attr-defined]
    assert [r.outcome for r in attempts] == ["retry", "retry", "dead"]  # type: ignore[attr-defined]
    assert attempts[0].status_code == 503  # type: ignore[attr-defined]
    assert attempts[0].next_retry_in == 0.05  # type: ignore[attr-defined]
    assert attempts[0].webhook_host == "127.0.0.1"  # type: ignore[attr-defined]
    assert "very-secret-value" not in caplog.text
    for record in caplog.records:
        assert "very-secret-value" not in repr(record.__dict__)


def test_private_target_refused_without_any_request(
    receiver: Any,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
) -> None:
    task_id = finished_task(receiver.url())
    dispatcher = dispatcher_for(webhook_allow_private=False)

    row = drain(dispatcher, delivery_of, task_id)

    assert (row.state, row.attempts) == ("dead", 1)
    assert row.last_error is not None and "loopback" in row.last_error
    time.sleep(0.05)
    assert receiver.requests == []


def test_private_resolution_refused(
    receiver: Any,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A public-looking name that resolves to loopback is caught at delivery time.
    _resolve_to_loopback(monkeypatch, "hooks.example.com")
    task_id = finished_task(receiver.url(host="hooks.example.com"))
    row = drain(dispatcher_for(webhook_allow_private=False), delivery_of, task_id)
    assert row.state == "dead"
    assert row.last_error is not None and "resolves to 127.0.0.1" in row.last_error
    assert receiver.requests == []


def test_redirect_is_not_followed(
    start_receiver: Callable[..., Any],
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
) -> None:
    first, second = start_receiver(), start_receiver()
    first.replies = [(302, {"Location": second.url("/elsewhere")})]
    task_id = finished_task(first.url())
    dispatcher = dispatcher_for()

    assert dispatcher.run_once() == 1

    row = delivery_of(task_id)
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error is not None and row.last_error.startswith("HTTP 302")
    assert "not followed" in row.last_error
    assert len(first.requests) == 1
    assert second.requests == []


def test_expired_task_goes_dead(
    receiver: Any,
    store: Store,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
) -> None:
    task_id = finished_task(receiver.url())
    with store.write() as s:
        s.execute(update(Task).where(Task.id == task_id).values(expires_at=store.now() - 1))
    row = drain(dispatcher_for(), delivery_of, task_id)
    assert (row.state, row.last_error) == ("dead", "task expired")
    assert receiver.requests == []


def test_connection_refused_is_retried(
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    task_id = finished_task(f"http://127.0.0.1:{port}/hook")
    dispatcher = dispatcher_for(webhook_retry_schedule=[30.0])
    before = time.time()
    assert dispatcher.run_once() == 1
    row = delivery_of(task_id)
    assert row.state == "pending" and row.attempts == 1
    assert row.last_error is not None and "ConnectError" in row.last_error
    assert row.next_attempt_at >= before + 30.0
    assert dispatcher.run_once() == 0  # not due yet


def test_timeout_is_a_failure(
    receiver: Any,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
) -> None:
    release = threading.Event()

    def stall() -> tuple[int, dict[str, str]]:
        release.wait(5)
        return 200, {}

    receiver.replies = [stall]
    task_id = finished_task(receiver.url())
    dispatcher = dispatcher_for(webhook_timeout_seconds=0.2)
    try:
        dispatcher.run_once()
    finally:
        release.set()
    row = delivery_of(task_id)
    assert row.state == "pending"
    assert row.last_error is not None and row.last_error.startswith("timed out after 0.2s")


def test_slow_target_does_not_block_others(
    start_receiver: Callable[..., Any],
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
) -> None:
    slow, fast = start_receiver(), start_receiver()
    release = threading.Event()

    def hold() -> tuple[int, dict[str, str]]:
        release.wait(5)
        return 200, {}

    slow.replies = [hold]
    slow_id = finished_task(slow.url())
    fast_id = finished_task(fast.url())
    dispatcher = dispatcher_for()
    runner = threading.Thread(target=dispatcher.run_once)
    runner.start()
    try:
        fast.wait_for(1, timeout=3)  # arrives while the slow one is still held
        slow.wait_for(1, timeout=3)
        assert not release.is_set()
    finally:
        release.set()
        runner.join(5)
    assert delivery_of(slow_id).state == delivery_of(fast_id).state == "delivered"


def test_pins_resolved_address_and_keeps_host_header(
    receiver: Any,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _resolve_to_loopback(monkeypatch, "hooks.example.com")
    task_id = finished_task(receiver.url("/in", host="hooks.example.com"))
    dispatcher_for().run_once()
    [req] = receiver.wait_for(1)
    assert req.headers["host"] == f"hooks.example.com:{receiver.port}"
    assert req.path == "/in"
    assert calls == ["hooks.example.com"]  # resolved once, by us, not again by the client
    assert delivery_of(task_id).state == "delivered"


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    # fmt: off
    args = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "1", "-subj", "/CN=hooks.test",
        "-addext", "subjectAltName=DNS:hooks.test", "-keyout", str(key), "-out", str(cert),
    ]
    # fmt: on
    subprocess.run(args, check=True, capture_output=True)
    return cert, key


@needs_openssl
@pytest.mark.parametrize(("name", "delivered"), [("hooks.test", True), ("other.test", False)])
def test_https_verifies_certificate_for_the_real_name(
    name: str,
    delivered: bool,
    tls_cert: tuple[Path, Path],
    start_receiver: Callable[..., Any],
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = tls_cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    seen_sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, server_name, _ctx: seen_sni.append(server_name)
    receiver = start_receiver(server_ctx)
    _resolve_to_loopback(monkeypatch, name)
    task_id = finished_task(receiver.url(host=name))
    client_ctx = ssl.create_default_context(cafile=str(cert))

    dispatcher_for(verify=client_ctx).run_once()

    row = delivery_of(task_id)
    # The socket went to 127.0.0.1, yet SNI and the certificate check used the URL's name: the
    # certificate for hooks.test does not pass for other.test.
    assert seen_sni and seen_sni[0] == name
    if delivered:
        assert row.state == "delivered"
        [req] = receiver.wait_for(1)
        assert req.headers["host"] == f"{name}:{receiver.port}"
    else:
        assert row.state == "pending"
        assert row.last_error is not None and "CERTIFICATE_VERIFY_FAILED" in row.last_error
        assert receiver.requests == []


def test_run_forever_wakes_and_follows_retry_schedule(
    receiver: Any,
    dispatcher_for: Callable[..., WebhookDispatcher],
    finished_task: Callable[..., str],
    delivery_of: Callable[[str], WebhookDelivery],
) -> None:
    # An idle poll far longer than the test: only wake() and next_due_at can drive delivery.
    dispatcher = dispatcher_for(idle_poll_seconds=30.0, webhook_retry_schedule=[0.05])
    stop = threading.Event()
    runner = threading.Thread(target=dispatcher.run_forever, args=(stop,))
    runner.start()
    try:
        time.sleep(0.05)  # let it go idle on an empty outbox
        receiver.replies = [(500, {}), (204, {})]
        task_id = finished_task(receiver.url())
        started = time.monotonic()
        dispatcher.wake()
        receiver.wait_for(2, timeout=3)
        assert time.monotonic() - started < 2
        deadline = time.monotonic() + 3
        while delivery_of(task_id).state != "delivered":
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        stop.set()
        dispatcher.wake()
        runner.join(3)
    assert not runner.is_alive()


def _resolve_to_loopback(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    calls: list[str] = []
    real = targets._getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        calls.append(host)
        if host == name:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(targets, "_getaddrinfo", getaddrinfo)
    return calls
