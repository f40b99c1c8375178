"""A slow or silent webhook target cannot hold up other targets' or other keys' deliveries:
the per-target and per-key limits, and the attempt deadline, against real TCP servers on
127.0.0.1 (no traffic leaves the host)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from fluxhost.storage.signing import UrlSigner
from fluxhost.store.keys import create_key
from fluxhost.store.models import WebhookDelivery
from fluxhost.store.store import Store
from fluxhost.webhooks import WebhookDispatcher

FinishedTask = Callable[..., str]
DeliveryOf = Callable[[str], WebhookDelivery]

# Longer than any bound asserted below: deliveries that arrive within those bounds did not wait
# for a stuck attempt to time out, they ran beside it.
STUCK_TIMEOUT = 8.0
TRICKLE_SECONDS = 20.0
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Connections:
    """Counts connections open at once, over one or more targets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.most = 0

    def enter(self) -> None:
        with self.lock:
            self.open += 1
            self.most = max(self.most, self.open)

    def leave(self) -> None:
        with self.lock:
            self.open -= 1


class RawTarget:
    """A webhook receiver on loopback, as badly behaved as asked: `silent` reads the request
    and never answers; `trickle` sends a status line a byte at a time, forever; `answer` replies
    200 at once. `mode` may change while it runs; `release` closes the connections held."""

    def __init__(
        self, mode: str, connections: Connections | None = None, trickle_every: float = 0.2
    ) -> None:
        self.mode = mode
        self.trickle_every = trickle_every
        self.connections = connections or Connections()
        self.answered = 0
        self.release = threading.Event()
        self._cond = threading.Condition()
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_open(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.connections.open < count:
            assert time.monotonic() < deadline, f"{self.connections.open} of {count} connected"
            time.sleep(0.01)

    def close(self) -> None:
        self.release.set()
        self._sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        self.connections.enter()
        try:
            _read_request(conn)
            if self.mode == "answer":
                conn.sendall(ANSWER)
                with self._cond:
                    self.answered += 1
            elif self.mode == "silent":
                _hold(conn, self.release)
            else:
                self._trickle(conn)
        except OSError:
            pass  # the client gave up
        finally:
            self.connections.leave()
            conn.close()

    def _trickle(self, conn: socket.socket) -> None:
        # Ends after TRICKLE_SECONDS, so a client without a deadline fails a test, not hangs it.
        line = b"HTTP/1.1 200 OK\r\n"
        ends = time.monotonic() + TRICKLE_SECONDS
        i = 0
        while time.monotonic() < ends and not self.release.wait(self.trickle_every):
            conn.sendall(line[i % len(line) : i % len(line) + 1])
            i += 1


def _read_request(conn: socket.socket) -> None:
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise OSError("client closed before the request was complete")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            raise OSError("client closed mid-body")
        body += chunk


def _hold(conn: socket.socket, release: threading.Event) -> None:
    """Answer nothing until released or until the client hangs up."""
    conn.settimeout(0.05)
    while not release.is_set():
        try:
            if conn.recv(1) == b"":
                return
        except TimeoutError:
            continue


@pytest.fixture
def raw_target() -> Iterator[Callable[..., RawTarget]]:
    made: list[RawTarget] = []

    def make(mode: str, **kwargs: Any) -> RawTarget:
        target = RawTarget(mode, **kwargs)
        made.append(target)
        return target

    yield make
    for target in made:
        target.close()


@pytest.fixture
def running(
    store: Store, signer: UrlSigner, make_settings: Callable[..., Any]
) -> Iterator[Callable[..., WebhookDispatcher]]:
    """A dispatcher in its run_forever loop, as a server runs it."""
    started: list[tuple[WebhookDispatcher, threading.Event, threading.Thread]] = []

    def start(**overrides: Any) -> WebhookDispatcher:
        dispatcher = WebhookDispatcher(
            store, signer, make_settings(**overrides), owner=f"iso-{len(started)}"
        )
        stop = threading.Event()
        thread = threading.Thread(target=dispatcher.run_forever, args=(stop,), daemon=True)
        thread.start()
        started.append((dispatcher, stop, thread))
        return dispatcher

    yield start
    for dispatcher, stop, thread in started:
        stop.set()
        dispatcher.wake()
        thread.join(STUCK_TIMEOUT + 5)
        dispatcher.close()


def _wait_delivered(delivery_of: DeliveryOf, task_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for task_id in task_ids:
        while (row := delivery_of(task_id)).state != "delivered":
            assert row.state == "pending", f"{task_id}: {row.state}: {row.last_error}"
            assert time.monotonic() < deadline, f"{task_id} still pending: {row.last_error}"
            time.sleep(0.02)


def test_silent_and_trickling_targets_do_not_delay_another_keys_webhook(
    store: Store,
    raw_target: Callable[..., RawTarget],
    running: Callable[..., WebhookDispatcher],
    finished_task: FinishedTask,
    delivery_of: DeliveryOf,
) -> None:
    silent, trickle, fast = raw_target("silent"), raw_target("trickle"), raw_target("answer")
    # The shipped limits (16 threads, 2 per target, 4 per key) with a long attempt deadline.
    dispatcher = running(webhook_timeout_seconds=STUCK_TIMEOUT, webhook_retry_schedule=[0.05] * 5)
    key_1 = create_key(store, "key-1")[0].id
    stuck = [finished_task(silent.url(), key_id=key_1) for _ in range(4)]
    stuck += [finished_task(trickle.url(), key_id=key_1) for _ in range(4)]
    dispatcher.wake()
    silent.wait_open(2)
    trickle.wait_open(2)

    enqueued = time.monotonic()
    other = finished_task(fast.url())  # key 2
    dispatcher.wake()
    _wait_delivered(delivery_of, [other], timeout=STUCK_TIMEOUT)
    took = time.monotonic() - enqueued

    assert took < 5.0, f"another key's webhook waited {took:.1f}s behind stuck targets"
    assert fast.answered == 1
    # Each stuck target held at most 2 deliveries; the rest stayed due, not attempted.
    assert silent.connections.most == trickle.connections.most == 2
    attempts = sorted(delivery_of(task_id).attempts for task_id in stuck)
    assert attempts == [0, 0, 0, 0, 1, 1, 1, 1]

    # The targets come back: every delivery arrives, once, nothing is lost.
    silent.mode = trickle.mode = "answer"
    silent.release.set()
    trickle.release.set()
    _wait_delivered(delivery_of, stuck, timeout=20)
    assert silent.answered == trickle.answered == 4
    assert sorted(delivery_of(task_id).attempts for task_id in stuck) == [1, 1, 1, 1, 2, 2, 2, 2]


def test_one_key_with_many_silent_targets_cannot_take_every_thread(
    store: Store,
    raw_target: Callable[..., RawTarget],
    running: Callable[..., WebhookDispatcher],
    finished_task: FinishedTask,
    delivery_of: DeliveryOf,
) -> None:
    shared = Connections()  # distinct ports of one host are distinct targets
    silent = [raw_target("silent", connections=shared) for _ in range(4)]
    fast = raw_target("answer")
    dispatcher = running(
        webhook_timeout_seconds=STUCK_TIMEOUT,
        webhook_retry_schedule=[0.05] * 5,
        webhook_concurrency=4,
        webhook_per_key_concurrency=2,
    )
    key_1 = create_key(store, "key-1")[0].id
    stuck = [finished_task(target.url(), key_id=key_1) for target in silent]
    dispatcher.wake()
    silent[0].wait_open(2)

    enqueued = time.monotonic()
    other = finished_task(fast.url())
    dispatcher.wake()
    _wait_delivered(delivery_of, [other], timeout=STUCK_TIMEOUT)
    took = time.monotonic() - enqueued

    assert took < 5.0, f"another key's webhook waited {took:.1f}s behind key 1's targets"
    assert shared.most == 2
    for target in silent:
        target.mode = "answer"
        target.release.set()
    _wait_delivered(delivery_of, stuck, timeout=20)
    assert [target.answered for target in silent] == [1, 1, 1, 1]


def test_trickling_target_cannot_stretch_an_attempt_past_its_deadline(
    raw_target: Callable[..., RawTarget],
    dispatcher_for_once: Callable[..., WebhookDispatcher],
    finished_task: FinishedTask,
    delivery_of: DeliveryOf,
) -> None:
    # A byte every 0.2 s never trips a per-read timeout of 1 s: only a deadline ends this.
    trickle = raw_target("trickle", trickle_every=0.2)
    task_id = finished_task(trickle.url())
    dispatcher = dispatcher_for_once(webhook_timeout_seconds=1.0)

    started = time.monotonic()
    assert dispatcher.run_once() == 1
    took = time.monotonic() - started

    assert took < 5.0, f"the attempt ran {took:.1f}s against a 1 s deadline"
    row = delivery_of(task_id)
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error is not None and row.last_error.startswith("timed out after 1s")


def test_connect_that_hangs_ends_at_the_connect_timeout(
    dispatcher_for_once: Callable[..., WebhookDispatcher],
    finished_task: FinishedTask,
    delivery_of: DeliveryOf,
) -> None:
    with _unanswered_listener() as url:
        task_id = finished_task(url)
        dispatcher = dispatcher_for_once(
            webhook_timeout_seconds=STUCK_TIMEOUT, webhook_connect_timeout_seconds=0.5
        )
        started = time.monotonic()
        dispatcher.run_once()
        took = time.monotonic() - started

    assert took < 3.0, f"the connect ran {took:.1f}s against a 0.5 s connect timeout"
    row = delivery_of(task_id)
    assert row.state == "pending"
    assert row.last_error is not None
    assert row.last_error.startswith("connect timed out after 0.5s"), row.last_error


@pytest.fixture
def dispatcher_for_once(
    store: Store, signer: UrlSigner, make_settings: Callable[..., Any]
) -> Iterator[Callable[..., WebhookDispatcher]]:
    made: list[WebhookDispatcher] = []

    def make(**overrides: Any) -> WebhookDispatcher:
        made.append(WebhookDispatcher(store, signer, make_settings(**overrides), owner="once"))
        return made[-1]

    yield make
    for dispatcher in made:
        dispatcher.close()


@contextmanager
def _unanswered_listener() -> Iterator[str]:
    """The URL of a listener whose accept queue is full, so a new connect gets no SYN-ACK and
    hangs (Linux drops the SYN). Skips the test where the kernel answers anyway."""
    fillers: list[socket.socket] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        address = server.getsockname()
        try:
            for _ in range(8):
                probe = socket.socket()
                probe.settimeout(0.3)
                try:
                    probe.connect(address)
                except TimeoutError:
                    probe.close()
                    yield f"http://127.0.0.1:{address[1]}/hook"
                    return
                fillers.append(probe)
        finally:
            for sock in fillers:
                sock.close()
    pytest.skip("this kernel completes connects past a full accept queue")
