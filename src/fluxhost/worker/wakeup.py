"""How idle workers learn of new tasks: on PostgreSQL one LISTEN connection per process.

The submit transaction sends `NOTIFY fluxhost_tasks, '<kinds>'` (store.tasks.notify_queued), so
the notification is delivered when the rows are committed, never before. The listener wakes the
process's idle workers when the kinds concern them. The connection is re-made on any failure;
until it is back, and for anything it could miss, the workers' poll (POLL_INTERVAL_SECONDS) is
the fallback. On SQLite there is no listener: embedded workers are woken by the API's event."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

from fluxhost.store.tasks import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
# How often the listening loop looks at the stop flag (notifies() returns at this timeout).
STOP_CHECK_SECONDS = 1.0


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as psycopg takes it (no '+driver')."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def concerns(payload: str, kinds: Collection[str] | None) -> bool:
    """Whether a notification's kinds (comma-separated; empty: any) are some we serve."""
    if kinds is None or not payload:
        return True
    return any(k in kinds for k in payload.split(","))


class NotifyListener:
    def __init__(self, url: str, kinds: Collection[str] | None, wake: Callable[[], None],
                 stop: threading.Event) -> None:
        self.url = libpq_url(url)
        self.kinds = kinds
        self.wake = wake
        self.stop = stop
        self.listening = threading.Event()  # set while the LISTEN connection is up

    def run_forever(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                self._listen()
                backoff = 0.5
            except Exception as exc:  # the database restarted, the network broke: re-connect
                self.listening.clear()
                log.warning("task listener lost its connection; polling until it is back",
                            extra={"error": f"{type(exc).__name__}: {exc}"[:300],
                                   "retry_in": backoff})
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        self.listening.clear()

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self.listening.set()
            log.info("listening for new tasks", extra={"channel": NOTIFY_CHANNEL})
            self.wake()  # tasks queued while we were not listening were never announced to us
            while not self.stop.is_set():
                for note in conn.notifies(timeout=STOP_CHECK_SECONDS):
                    if concerns(note.payload, self.kinds):
                        self.wake()
