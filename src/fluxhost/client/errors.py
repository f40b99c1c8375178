"""Exceptions raised by the client."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fluxhost.client.models import Result


class FluxhostError(Exception):
    """The server refused a request: `status_code` is its HTTP status (None when the client
    refused before sending), `detail` the body's `detail` (a string, or the 422 error list)."""

    def __init__(self, status_code: int | None, detail: Any) -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(self._message())

    def _message(self) -> str:
        text = describe_detail(self.detail)
        return text if self.status_code is None else f"HTTP {self.status_code}: {text}"


class TaskFailed(FluxhostError):
    """A task ended in a terminal status other than Ready (Error, moderation, not found)."""

    def __init__(self, result: Result) -> None:
        self.result = result
        super().__init__(None, result.details)

    def _message(self) -> str:
        return (f"task {self.result.id} ended with status {self.result.status!r}: "
                f"{describe_detail(self.result.details)}")


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
