"""Drains the webhook outbox: claim due deliveries, POST them, record the outcome.

Delivery is at-least-once: a row is leased for one attempt; if this process dies mid-POST the
lease expires and another dispatcher retries it. Receivers should dedupe on `task_id`.

Isolation: an attempt ends within `webhook_timeout_seconds` however the target behaves
(transport.py), and a target (host:port) or an API key holds at most a few of the delivery
threads at once (limits.py). Rows over those limits are not claimed: they stay due in the outbox
and are picked up when one of their deliveries ends, while other targets' rows take the free
threads."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from fluxhost import render
from fluxhost.metrics.process import WEBHOOK_ATTEMPTS
from fluxhost.netguard.transport import DeadlineTransport, deadline
from fluxhost.settings import Settings
from fluxhost.storage.signing import UrlSigner
from fluxhost.store import outbox
from fluxhost.store.models import WebhookDelivery
from fluxhost.store.outage import log_failure
from fluxhost.store.store import Store
from fluxhost.store.tasks import get_task
from fluxhost.webhooks.limits import InflightLimits, Slot
from fluxhost.webhooks.signature import signature_headers
from fluxhost.webhooks.targets import ResolvedTarget, TargetRefused, resolve_target, target_key

log = logging.getLogger("fluxhost.webhooks")

USER_AGENT = "fluxhost-webhooks/1"
# On top of the attempt's deadline, room for a slow resolver (getaddrinfo takes no timeout) and
# the DB writes before the lease may lapse (a lapsed lease lets another dispatcher send the same
# delivery again). Rows are leased only when a thread is free to start them at once.
LEASE_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt went. `permanent` failures are not retried."""

    delivered: bool
    error: str | None = None
    status_code: int | None = None
    permanent: bool = False


@dataclass(frozen=True)
class _Round:
    """What one claim started, and whether due rows were held back by the limits."""

    started: list[Future[None]] = field(default_factory=list)
    held_back: bool = False


class WebhookDispatcher:
    def __init__(
        self,
        store: Store,
        signer: UrlSigner,
        settings: Settings,
        owner: str,
        *,
        max_workers: int | None = None,
        idle_poll_seconds: float = 1.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """`owner` names this dispatcher in outbox leases (unique per process). `max_workers`
        defaults to `webhook_concurrency`. `verify` is passed to httpx: True, or an SSLContext
        trusting a private CA."""
        self.store = store
        self.signer = signer
        self.settings = settings
        self.owner = owner
        self.max_workers = max_workers or settings.webhook_concurrency
        self.idle_poll_seconds = idle_poll_seconds
        self.limits = InflightLimits(
            self.max_workers,
            per_target=settings.webhook_per_target_concurrency,
            per_key=settings.webhook_per_key_concurrency,
        )
        self._wake = threading.Event()
        # One claimer at a time: a claim admits rows against the limits before leasing them.
        self._claim_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="webhook")
        self._running: set[Future[None]] = set()
        self._running_lock = threading.Lock()
        total = settings.webhook_timeout_seconds
        self._client = httpx.Client(
            # Per socket operation; the attempt's deadline (transport.py) bounds their sum.
            timeout=httpx.Timeout(total, connect=min(settings.webhook_connect_timeout_seconds,
                                                     total)),
            # A redirect could point anywhere, including at private addresses: never follow.
            follow_redirects=False,
            # Proxy variables would route around the address pinning; the SSRF guard only holds
            # for direct connections. (The transport has no proxy and no keep-alive either.)
            trust_env=False,
            transport=DeadlineTransport(verify=verify),
        )

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def __enter__(self) -> WebhookDispatcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def wake(self) -> None:
        """Look at the outbox now (a task just finished) instead of at the next poll."""
        self._wake.set()

    def run_forever(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set, then wait for the attempts in flight (each ends within
        its deadline). Set `stop` and call `wake()` to exit at once; otherwise it is noticed
        within `idle_poll_seconds`."""
        while not stop.is_set():
            # Cleared before the claim, so a wake() that arrives during it is not lost.
            self._wake.clear()
            try:
                round_ = self._start_due()
            except Exception as exc:
                log_failure(log, "webhook dispatch round failed", exc)
                round_ = _Round()
            if stop.is_set():
                break
            self._wake.wait(self._idle_delay(round_))
        self._wait_running()

    def _idle_delay(self, round_: _Round) -> float:
        if self.limits.free() == 0:
            return self.idle_poll_seconds  # every attempt that ends wakes the loop
        now = self.store.now()
        try:
            # Rows held back by the limits are due already; they wait for an attempt to end
            # (which wakes the loop), so look only at what becomes due after now.
            due = outbox.next_due_at(self.store, after=now if round_.held_back else None)
        except Exception as exc:
            log_failure(log, "webhook outbox poll failed", exc)
            return self.idle_poll_seconds
        if due is None:
            return self.idle_poll_seconds
        delay = due - now
        if delay <= 0 and not round_.started:
            # Due but not claimable: another dispatcher holds its lease (next_due_at does not
            # look at leases). Poll instead of spinning.
            return self.idle_poll_seconds / 4
        return min(max(delay, 0.0), self.idle_poll_seconds)

    # --- one round ------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim what can start now, deliver it in parallel and wait for the outcomes. Returns
        how many deliveries were attempted."""
        started = self._start_due().started
        wait(started)
        return len(started)

    def _start_due(self) -> _Round:
        """Lease the due rows the limits admit (no more than there are free threads, so each
        lease runs only while its attempt does) and start them; do not wait for them."""
        with self._claim_lock:
            free = self.limits.free()
            if free == 0:
                return _Round()
            slots: dict[int, Slot] = {}
            held_back = False

            def admit(candidate: outbox.Candidate) -> bool:
                nonlocal held_back
                slot = self.limits.try_acquire(target_key(candidate.url), candidate.key_id)
                if slot is None:
                    held_back = True
                    return False
                slots[candidate.id] = slot
                return True

            lease = self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
            try:
                rows = outbox.claim_due(
                    self.store, self.owner, lease_seconds=lease, limit=free, admit=admit
                )
            except BaseException:
                self._release_all(slots.values())
                raise
            # Admitted but leased by another dispatcher in the meantime: not ours to send.
            leased = {row.id for row in rows}
            self._release_all(slot for row_id, slot in slots.items() if row_id not in leased)
            return _Round([self._start(row, slots[row.id]) for row in rows], held_back)

    def _release_all(self, slots: Iterable[Slot]) -> None:
        for slot in slots:
            self.limits.release(slot)

    def _start(self, row: WebhookDelivery, slot: Slot) -> Future[None]:
        future = self._pool.submit(self._run, row, slot)
        with self._running_lock:
            self._running.add(future)
        future.add_done_callback(self._finished)
        return future

    def _run(self, row: WebhookDelivery, slot: Slot) -> None:
        try:
            self._process(row)
        finally:
            # After the outcome is written, so the woken loop sees the row's next due time.
            self.limits.release(slot)
            self._wake.set()

    def _finished(self, future: Future[None]) -> None:
        with self._running_lock:
            self._running.discard(future)
        # _process handles its own errors; this only surfaces bugs in it (or a DB failure
        # while recording the outcome: the lease then lapses and the row is tried again).
        exc = future.exception()
        if exc is not None:
            log_failure(log, "webhook delivery crashed", exc)

    def _wait_running(self) -> None:
        with self._running_lock:
            running = list(self._running)
        wait(running)

    def _process(self, row: WebhookDelivery) -> None:
        host = _host_of(row.url)
        try:
            result = self._attempt(row)
        except Exception as exc:
            log.exception(
                "webhook attempt failed unexpectedly",
                extra={"task_id": row.task_id, "webhook_host": host, "attempt": row.attempts},
            )
            result = AttemptResult(False, error=f"internal error: {type(exc).__name__}: {exc}")

        fields: dict[str, Any] = {
            "task_id": row.task_id,
            "delivery_id": row.id,
            "webhook_host": host,
            "attempt": row.attempts,
            "status_code": result.status_code,
        }
        if result.delivered:
            outbox.mark_delivered(self.store, row.id, self.owner)
            WEBHOOK_ATTEMPTS.labels("delivered").inc()
            log.info("webhook delivered", extra={**fields, "outcome": "delivered"})
            return
        retry_in = None if result.permanent else self._retry_delay(row.attempts)
        error = result.error or "unknown error"
        outbox.mark_failed(self.store, row.id, self.owner, error=error, retry_in=retry_in)
        outcome = "dead" if retry_in is None else "retry"
        WEBHOOK_ATTEMPTS.labels(outcome).inc()
        log.warning(
            "webhook attempt failed: %s",
            error,
            extra={**fields, "error": error, "next_retry_in": retry_in, "outcome": outcome},
        )

    def _retry_delay(self, attempts: int) -> float | None:
        schedule = self.settings.webhook_retry_schedule
        return schedule[attempts - 1] if attempts - 1 < len(schedule) else None

    def _attempt(self, row: WebhookDelivery) -> AttemptResult:
        task = get_task(self.store, row.task_id)
        if task is None:
            return AttemptResult(False, error="task expired", permanent=True)
        if row.secret is not None and not _header_safe(row.secret):
            return AttemptResult(
                False, error="webhook secret cannot be sent as an HTTP header", permanent=True
            )
        try:
            target = resolve_target(row.url, self.settings.webhook_allow_private)
        except TargetRefused as exc:
            return AttemptResult(False, error=exc.reason, permanent=True)
        except OSError as exc:
            # Resolution failures are often transient (resolver down, NXDOMAIN cached briefly).
            return AttemptResult(False, error=f"cannot resolve webhook host: {exc}")
        # Rendered per attempt so the signed sample URL carries a full TTL.
        body = render.webhook_body(task, self.signer)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(body, row.secret),
        }
        return self._post(target, body, headers)

    def _post(self, target: ResolvedTarget, body: bytes, headers: dict[str, str]) -> AttemptResult:
        request = target.build_request(self._client, content=body, headers=headers)
        total = self.settings.webhook_timeout_seconds
        try:
            # Streamed and closed unread: the receiver's body is of no interest and may be large.
            # So the deadline covers connect, TLS, sending and the status line and headers.
            with deadline(total):
                response = self._client.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectTimeout as exc:
            connect = min(self.settings.webhook_connect_timeout_seconds, total)
            return AttemptResult(
                False, error=f"connect timed out after {connect:g}s ({_describe(exc)})"
            )
        except httpx.TimeoutException as exc:
            return AttemptResult(False, error=f"timed out after {total:g}s ({_describe(exc)})")
        except httpx.HTTPError as exc:
            return AttemptResult(False, error=f"request to {target.ip} failed: {_describe(exc)}")
        try:
            status = response.status_code
            if 200 <= status < 300:
                return AttemptResult(True, status_code=status)
            error = f"HTTP {status} {response.reason_phrase}".rstrip()
            if response.is_redirect:
                location = response.headers.get("location", "")
                error += f" (redirect to {location[:200]!r} not followed)"
            return AttemptResult(False, error=error, status_code=status)
        finally:
            response.close()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _host_of(url: str) -> str:
    # Logs get the host only: paths and query strings of webhook URLs often carry tokens.
    try:
        return httpx.URL(url).host or "?"
    except Exception:
        return "?"


def _header_safe(value: str) -> bool:
    return all(" " <= ch <= "~" or ch == "\t" for ch in value)
