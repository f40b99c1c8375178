"""What the API answers, as plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxhost.wire.enums import StatusResponse

READY = StatusResponse.ready.value
# Every status but Pending ends a task.
TERMINAL_STATUSES = frozenset(s.value for s in StatusResponse if s is not StatusResponse.pending)
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@dataclass(frozen=True)
class Submission:
    """A queued task: poll `polling_url` (the server's own URL for it) until it ends. The usage
    figures are set when the server sends them (None otherwise)."""

    id: str
    polling_url: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    cost: float | None = None
    input_mp: float | None = None
    output_mp: float | None = None


@dataclass(frozen=True)
class FinetuneSubmission(Submission):
    """A queued training: its task id is the new finetune's id."""

    @property
    def finetune_id(self) -> str:
        return self.id


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

    def save(self, path: str | Path, task_id: str) -> Path:
        """Write the image to `path`, or to `<task_id>.<ext>` inside it when it is a folder."""
        target = Path(path)
        if target.is_dir():
            target = target / f"{task_id}.{self.extension}"
        target.write_bytes(self.data)
        return target
