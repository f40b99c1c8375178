"""Blob stores. The local directory is the default; keys are relative paths like
`results/<task id>.jpeg`, never taken from a client without validation."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Protocol

CONTENT_TYPES = {
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".safetensors": "application/octet-stream",
}
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*\.[a-z0-9]+$")


class BadBlobKey(ValueError):
    pass


def content_type_for(key: str) -> str:
    return CONTENT_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")


def check_key(key: str) -> str:
    if not _KEY_RE.match(key) or len(key) > 300:
        raise BadBlobKey(f"invalid blob key {key!r}")
    return key


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def path(self, key: str) -> Path | None: ...
    def get(self, key: str) -> bytes | None: ...
    def delete(self, key: str) -> None: ...


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        target = self._file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a reader never sees half a file, a crash leaves only a temp file.
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)

    def path(self, key: str) -> Path | None:
        target = self._file(key)
        return target if target.is_file() else None

    def get(self, key: str) -> bytes | None:
        target = self.path(key)
        return target.read_bytes() if target else None

    def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)
