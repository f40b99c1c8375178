"""Exceptions raised by the client.

    FluxhostError                 everything the SDK raises on purpose
    ├── InvalidRequest            refused here, before any request (also a ValueError)
    ├── APIError                  an HTTP answer the server refused: .status_code, .detail
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401, 403
    │   ├── NotFoundError             404
    │   ├── UnprocessableEntityError  422 (.detail is the contract's error list)
    │   ├── RateLimitError            429 (.retry_after)
    │   └── ServerError               5xx
    ├── TaskFailed                a task ended other than Ready: .result
    │   ├── TaskModerated             Request Moderated / Content Moderated
    │   ├── TaskError                 Error
    │   └── TaskNotFound              Task not found (unknown, expired or another key's id)
    └── WaitTimeout               wait() ran out of time (also a TimeoutError)

Transport failures that outlive the retries (connection refused, timeouts) stay
`httpx.TransportError`: they are not answers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fluxhost.client.models import Result


class FluxhostError(Exception):
    """`status_code` is the HTTP status (None when no answer was refused: a failed task, a
    request refused before sending), `detail` the body's `detail` (a string, or the 422 error
    list)."""

    def __init__(self, status_code: int | None, detail: Any) -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(self._message())

    def _message(self) -> str:
        text = describe_detail(self.detail)
        return text if self.status_code is None else f"HTTP {self.status_code}: {text}"


class InvalidRequest(FluxhostError, ValueError):
    """The request model refused the fields before anything was sent; `detail` has the same
    shape as a 422's (`[{"loc": [...], "msg": ..., "type": ...}]`)."""

    def __init__(self, endpoint: str, detail: Any) -> None:
        self.endpoint = endpoint
        super().__init__(None, detail)

    def _message(self) -> str:
        return f"invalid request for {self.endpoint}: {describe_detail(self.detail)}"


class APIError(FluxhostError):
    """The server answered with an error status. `body` is the parsed JSON body (None when it
    was not JSON); `retry_after` the seconds its Retry-After header asked for, if any."""

    status_code: int

    def __init__(self, status_code: int, detail: Any, *, body: Any = None,
                 retry_after: float | None = None) -> None:
        self.body = body
        self.retry_after = retry_after
        super().__init__(status_code, detail)


class BadRequestError(APIError):
    """400: e.g. a Host header the server will not build URLs from."""


class AuthenticationError(APIError):
    """401 or 403: a missing, wrong or revoked key."""


class NotFoundError(APIError):
    """404: an unknown finetune (or a wrong base URL)."""


class UnprocessableEntityError(APIError):
    """422: the server's validation refused the body; `detail` lists the bad fields."""


class RateLimitError(APIError):
    """429: too many requests or active tasks; retried unless Retry-After was too long."""


class ServerError(APIError):
    """5xx. A POST is never resubmitted after one: the task may have been queued."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def api_error(status_code: int, detail: Any, *, body: Any = None,
              retry_after: float | None = None) -> APIError:
    """The APIError subclass for `status_code`."""
    cls = _BY_STATUS.get(status_code, ServerError if status_code >= 500 else APIError)
    return cls(status_code, detail, body=body, retry_after=retry_after)


class TaskFailed(FluxhostError):
    """A task ended in a terminal status other than Ready; `result` is its last poll."""

    def __init__(self, result: Result) -> None:
        self.result = result
        super().__init__(None, result.details)

    def _message(self) -> str:
        return (f"task {self.result.id} ended with status {self.result.status!r}: "
                f"{describe_detail(self.result.details)}")


class TaskModerated(TaskFailed):
    """Request Moderated (the prompt or an input image) or Content Moderated (the output)."""


class TaskError(TaskFailed):
    """The task failed while running (status Error)."""


class TaskNotFound(TaskFailed):
    """No such task for this key: unknown, expired, or another key's."""

    def _message(self) -> str:
        return f"task {self.result.id} not found"


def task_failure(result: Result) -> TaskFailed:
    """The TaskFailed subclass for a terminal, non-Ready result."""
    if result.status in ("Request Moderated", "Content Moderated"):
        return TaskModerated(result)
    if result.status == "Task not found":
        return TaskNotFound(result)
    if result.status == "Error":
        return TaskError(result)
    return TaskFailed(result)


class WaitTimeout(FluxhostError, TimeoutError):
    """The task was still running after `timeout` seconds; `last` is the last poll (None when
    no poll answered). The task goes on on the server: wait again or poll later."""

    def __init__(self, task_id: str, timeout: float, last: Result | None) -> None:
        self.task_id = task_id
        self.timeout = timeout
        self.last = last
        super().__init__(None, None)

    def _message(self) -> str:
        status = self.last.status if self.last is not None else "unanswered"
        return f"task {self.task_id} still {status!r} after {self.timeout:g}s"


def describe_detail(detail: Any) -> str:
    """One readable line for a `detail` or `details` value."""
    if detail is None:
        return "no details"
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and all(isinstance(e, dict) for e in detail):
        return "; ".join(_describe_validation_error(e) for e in detail) or "validation failed"
    return json.dumps(detail, default=str)


def _describe_validation_error(error: dict[str, Any]) -> str:
    # pydantic's loc starts with where the value came from ("body", "query"); the field path
    # after it is what a caller recognises.
    loc = [str(part) for part in error.get("loc", [])]
    if loc and loc[0] in {"body", "query", "header", "path"}:
        loc = loc[1:]
    msg = str(error.get("msg", "invalid"))
    return f"{'.'.join(loc)}: {msg}" if loc else msg
