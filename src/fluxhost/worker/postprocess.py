"""The hand-off between a worker's engine loop and the work that follows a generated image.

After the engine returns an image, the rest of a task (output moderation, encoding, the blob
write, the finishing transaction with its webhook row) needs no engine. A worker hands it here
and claims its next task at once, so the next denoising overlaps this work and the engine does
not sit idle between tasks. The task stays `running` under its lease until the job finishes it:
the job owns the task's heartbeat and stops it only once the task is finished (or dropped), so a
process killed in between leaves a lease that expires and a task that is retried.

The queue is bounded: a worker that produces images faster than they are finished blocks on the
hand-off, so at most `1 + maxsize` finished images wait in memory per worker."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from fluxhost.store.outage import is_unreachable

log = logging.getLogger(__name__)

Job = Callable[[], None]

# One waiting besides the one being finished: enough to cover the engine's next task, small
# enough that memory stays a couple of decoded images per worker.
DEFAULT_QUEUE_SIZE = 1


class PostProcessor:
    """Runs jobs in order on one thread of its own (started on the first job), or inline in the
    caller when `overlap` is False (the sequential mode, kept for comparison and debugging).

    A job must handle its own errors and finish or drop its task itself: an exception that
    escapes it is logged and the task is left to its lease (it expires and the task is retried)."""

    def __init__(self, name: str, *, overlap: bool = True,
                 maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        self.name = name
        self.overlap = overlap
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=maxsize)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Job) -> None:
        """Queue `job`; blocks while the queue is full (the bound on memory)."""
        if not self.overlap:
            _run(job)
            return
        self._ensure_thread()
        self._jobs.put(job)

    def drain(self) -> None:
        """Wait until every job submitted so far has run."""
        if self._thread is not None:
            self._jobs.join()

    def close(self) -> None:
        """Run what is queued, then stop the thread (worker shutdown: queued tasks finish)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"{self.name}-post",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                _run(job)
            finally:
                self._jobs.task_done()


def _run(job: Job) -> None:
    try:
        job()
    except Exception as exc:
        if is_unreachable(exc):  # not a bug: the store's outage report has the reason
            log.warning("post-processing job failed: database unreachable; its task is left "
                        "to its lease")
        else:
            log.exception("post-processing job failed; its task is left to its lease")
