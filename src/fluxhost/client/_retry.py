"""When a failed call is sent again, and after how long.

- 429 (any call): the request was not accepted, so sending it again creates nothing twice.
  Waits Retry-After (seconds or an HTTP date) when given, else backs off; a Retry-After over
  `max_retry_after` is not waited out: the RateLimitError is raised with `.retry_after`.
- GET (every read of the API, sample downloads): retried after transport errors and after
  500/502/503/504, honouring Retry-After.
- POST: retried only when the request provably never left (no connection was made). A POST
  that timed out or got a 5xx may have queued a task, so it is never resubmitted blindly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from fluxhost.client._protocol import Call, retry_after

RETRY_STATUSES = frozenset({500, 502, 503, 504})
# Raised before a connection carried any byte of the request.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    def delay(self, call: Call, retries: int, outcome: httpx.Response | Exception
              ) -> float | None:
        """Seconds to wait before sending `call` again, or None to give up (return the
        response or raise the exception). `retries`: how many times it was resent already."""
        if retries >= self.max_retries:
            return None
        if isinstance(outcome, Exception):
            retry = call.idempotent or isinstance(outcome, NOT_SENT)
            return self.backoff(retries) if retry else None
        status = outcome.status_code
        if status == 429 or (call.idempotent and status in RETRY_STATUSES):
            asked = retry_after(outcome)
            if asked is None:
                return self.backoff(retries)
            return asked if asked <= self.max_retry_after else None
        return None

    def backoff(self, retries: int) -> float:
        """Exponential, with jitter so that many clients refused at once do not return at
        once: between half and all of base * 2**retries, capped."""
        ceiling = min(self.backoff_max, self.backoff_base * 2**retries)
        return ceiling / 2 + random.uniform(0, ceiling / 2)
