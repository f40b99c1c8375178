"""Object-store calls made while a client waits: never on the event loop, bounded, and a store
that does not answer is a 503 the client can retry.

The calls run on a small pool of daemon threads of their own, not on the threadpool that
serves the sync routes (/health among them): a hung bucket may then hold every one of these
threads for BLOB_REQUEST_TIMEOUT_SECONDS, and /health still answers. A request waits at most
that long for its blob step; the store's own client (`Services.request_blobs`) gives up on the
same budget, so an abandoned call ends soon after. Blobs a failed request leaves behind are
deleted later, on another pool, so the answer never waits for the clean-up."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import HTTPException

from fluxhost.services import Services
from fluxhost.storage.blobs import BlobStore, BlobStoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

# One line, naming no bucket, endpoint or key: the details go to the log.
BLOB_UNAVAILABLE = "Service unavailable: the blob store did not answer; retry later"
BLOB_RETRY_AFTER = "5"


class _DaemonPool:
    """Runs calls on `size` daemon threads (started on first use): a call hung on the network
    never holds up the process's exit, as ThreadPoolExecutor's joined threads would."""

    def __init__(self, name: str, size: int) -> None:
        self._name = name
        self._size = size
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any],
                                            Callable[[], Any]]] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def submit(self, call: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((future, call))
        self._start()
        return future

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        for i in range(self._size):
            threading.Thread(target=self._run, name=f"{self._name}-{i}", daemon=True).start()

    def _run(self) -> None:
        while True:
            future, call = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue  # its request gave up before it started
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)


# Enough for the uploads of many concurrent submissions; each call ends within the budget.
_calls = _DaemonPool("fluxhost-blob-call", 32)
# Orphan deletes are rare and may wait; two threads keep them from piling onto the store.
_cleanup = _DaemonPool("fluxhost-blob-cleanup", 2)


def unavailable() -> HTTPException:
    return HTTPException(status_code=503, detail=BLOB_UNAVAILABLE,
                         headers={"Retry-After": BLOB_RETRY_AFTER})


def start(svc: Services, call: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
    """Start `call(svc.request_blobs, *args)` off the event loop; `settle` waits for it."""
    return _calls.submit(functools.partial(call, svc.request_blobs, *args))


async def settle(svc: Services, future: concurrent.futures.Future[T]) -> T:
    """The call's result, or a 503 once it failed on the store or outran the budget."""
    budget = svc.settings.blob_request_timeout_seconds
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout=budget)
    except BlobStoreError as exc:
        log.warning("blob store error on the request path; answered 503: %s", exc)
        raise unavailable() from exc
    except TimeoutError as exc:
        log.warning("blob store did not answer within %gs; answered 503", budget)
        raise unavailable() from exc


async def call(svc: Services, fn: Callable[..., T], *args: Any) -> T:
    """`fn(svc.request_blobs, *args)` off the loop, bounded: its result, or a 503."""
    return await settle(svc, start(svc, fn, *args))


def put_all(blobs: BlobStore, items: dict[str, bytes]) -> None:
    for blob_key, data in items.items():
        blobs.put(blob_key, data)


def drop_later(svc: Services, keys: Iterable[str],
               after: concurrent.futures.Future[Any] | None = None) -> None:
    """Delete blobs that no row refers to, in the background: the answer does not wait. After
    `after` (the request's puts) has ended: deleting before an abandoned put lands would leave
    its blob behind."""
    keys = list(keys)
    if keys:
        _cleanup.submit(functools.partial(_drop, svc.request_blobs, keys, after))


def _drop(blobs: BlobStore, keys: list[str],
          after: concurrent.futures.Future[Any] | None) -> None:
    if after is not None:
        concurrent.futures.wait([after])
    for blob_key in keys:
        try:
            blobs.delete(blob_key)
        except OSError as exc:  # BlobStoreError included; the retention sweep never sees these
            log.warning("could not delete orphan blob %s: %s", blob_key, exc)
