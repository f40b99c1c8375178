"""Drains the webhook outbox: claim due deliveries, POST them, record the outcome.

Delivery is at-least-once: a row is leased for one attempt; if this process dies mid-POST the
lease expires and another dispatcher retries it. Receivers should dedupe on `task_id`."""

from __future__ import annotations

import logging
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from fluxhost import render
from fluxhost.metrics.process import WEBHOOK_ATTEMPTS
from fluxhost.settings import Settings
from fluxhost.storage.signing import UrlSigner
from fluxhost.store import outbox
from fluxhost.store.models import WebhookDelivery
from fluxhost.store.outage import log_failure
from fluxhost.store.store import Store
from fluxhost.store.tasks import get_task
from fluxhost.webhooks.signature import signature_headers
from fluxhost.webhooks.targets import ResolvedTarget, TargetRefused, resolve_target

log = logging.getLogger("fluxhost.webhooks")

USER_AGENT = "fluxhost-webhooks/1"
# On top of the HTTP timeout, room for DNS and the DB writes before the lease may lapse (a lapsed
# lease lets another dispatcher send the same delivery again).
LEASE_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt went. `permanent` failures are not retried."""

    delivered: bool
    error: str | None = None
    status_code: int | None = None
    permanent: bool = False


class WebhookDispatcher:
    def __init__(
        self,
        store: Store,
        signer: UrlSigner,
        settings: Settings,
        owner: str,
        *,
        max_workers: int = 4,
        idle_poll_seconds: float = 1.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """`owner` names this dispatcher in outbox leases (unique per process). `verify` is
        passed to httpx: True, or an SSLContext trusting a private CA."""
        self.store = store
        self.signer = signer
        self.settings = settings
        self.owner = owner
        self.max_workers = max_workers
        self.idle_poll_seconds = idle_poll_seconds
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="webhook")
        self._client = httpx.Client(
            timeout=settings.webhook_timeout_seconds,
            # A redirect could point anywhere, including at private addresses: never follow.
            follow_redirects=False,
            # Proxy variables would route around the address pinning; the SSRF guard only holds
            # for direct connections.
            trust_env=False,
            # A pooled TLS connection is verified for the name it was opened for; reusing it for
            # another name on the same pinned IP would skip that check. Webhooks are rare
            # enough that a fresh connection each time costs nothing that matters.
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=verify,
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
        """Deliver until `stop` is set. Set `stop` and call `wake()` to exit at once; otherwise
        it is noticed within `idle_poll_seconds`."""
        while not stop.is_set():
            # Cleared before the claim, so a wake() that arrives during the batch is not lost.
            self._wake.clear()
            try:
                claimed = self.run_once()
            except Exception as exc:
                log_failure(log, "webhook dispatch round failed", exc)
                claimed = 0
            if stop.is_set():
                break
            if claimed >= self.max_workers:
                continue  # a full batch: more may be due right now
            self._wake.wait(self._idle_delay(claimed))

    def _idle_delay(self, claimed: int) -> float:
        try:
            due = outbox.next_due_at(self.store)
        except Exception as exc:
            log_failure(log, "webhook outbox poll failed", exc)
            return self.idle_poll_seconds
        if due is None:
            return self.idle_poll_seconds
        delay = due - self.store.now()
        if delay <= 0 and claimed == 0:
            # Due but not claimable: another dispatcher holds its lease (next_due_at does not
            # look at leases). Poll instead of spinning.
            return self.idle_poll_seconds / 4
        return min(max(delay, 0.0), self.idle_poll_seconds)

    # --- one round ------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim what is due (at most one per worker, so every claimed delivery starts at once
        and its lease runs only while it is actually being attempted), deliver in parallel,
        record outcomes. Returns how many deliveries were attempted."""
        lease = self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        rows = outbox.claim_due(self.store, self.owner, lease_seconds=lease, limit=self.max_workers)
        if not rows:
            return 0
        futures = [self._pool.submit(self._process, row) for row in rows]
        for future in futures:
            # _process handles its own errors; this only surfaces bugs in it.
            exc = future.exception()
            if exc is not None:
                log.error("webhook delivery crashed", exc_info=exc)
        return len(rows)

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
        try:
            # Streamed and closed unread: the receiver's body is of no interest and may be large.
            response = self._client.send(request, stream=True, follow_redirects=False)
        except httpx.TimeoutException as exc:
            timeout = self.settings.webhook_timeout_seconds
            return AttemptResult(False, error=f"timed out after {timeout:g}s ({_describe(exc)})")
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
