"""What the API answers, as plain dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

READY = "Ready"
TERMINAL_STATUSES = frozenset(
    {"Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"}
)
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@dataclass(frozen=True)
class Submission:
    """A queued task: poll `polling_url` (the server's own URL for it) until it ends."""

    id: str
    polling_url: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Result:
    """One poll of a task (`GET /v1/get_result`)."""

    id: str
    status: str
    result: dict[str, Any] | None = None
    progress: float | None = None
    details: Any = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def sample_url(self) -> str | None:
        """The signed image URL of a Ready task (valid for 10 minutes; poll again to renew)."""
        sample = (self.result or {}).get("sample")
        return sample if isinstance(sample, str) else None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_ready(self) -> bool:
        return self.status == READY


@dataclass(frozen=True)
class Sample:
    """A downloaded result image."""

    data: bytes = field(repr=False)
    content_type: str

    @property
    def extension(self) -> str:
        """File extension for `content_type`, without the dot ("bin" when unknown)."""
        return _EXTENSIONS.get(self.content_type, "bin")
