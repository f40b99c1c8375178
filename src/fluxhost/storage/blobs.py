"""Blob stores: the interface, key rules and the local directory (the default).

Keys are relative paths like `results/<task id>.jpeg`, never taken from a client without
validation. Two implementations: `LocalBlobStore` (a directory) here and `S3BlobStore`
(`fluxhost.storage.s3`, any S3-compatible service). Callers only use the interface, so a node
never needs to know whether its blobs are on a disk it shares with nobody or in a bucket the
whole fleet shares."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
CHUNK_BYTES = 256 * 1024


class BadBlobKey(ValueError):
    pass


class BlobStoreError(OSError):
    """A store that could not be reached or refused a request. An OSError, so callers that
    already tolerate a failing disk (orphan clean-up) tolerate a failing bucket alike."""


def content_type_for(key: str) -> str:
    return CONTENT_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")


def check_key(key: str) -> str:
    if not _KEY_RE.match(key) or len(key) > 300:
        raise BadBlobKey(f"invalid blob key {key!r}")
    return key


@dataclass
class BlobReader:
    """An open blob for streaming: its size and its bytes in chunks. `path` is set when the
    blob is a local file, so a server can hand it to sendfile instead of copying chunks."""

    size: int
    chunks: Iterator[bytes]
    path: Path | None = None


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def open(self, key: str) -> BlobReader | None:
        """For streaming (delivery); None when absent."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A local file holding the blob, for readers that need a path (diffusers loading
        LoRA weights); a remote store downloads it into its cache. None when absent."""
        ...

    def presign(self, key: str, ttl_seconds: int) -> str | None:
        """A URL that fetches the blob directly from the store, or None if it has none."""
        ...

    def describe(self) -> str: ...


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        write_atomically(self._file(key), data)

    def path(self, key: str) -> Path | None:
        target = self._file(key)
        return target if target.is_file() else None

    def get(self, key: str) -> bytes | None:
        target = self.path(key)
        return target.read_bytes() if target else None

    def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path(key) is not None

    def open(self, key: str) -> BlobReader | None:
        target = self.path(key)
        if target is None:
            return None
        return BlobReader(size=target.stat().st_size, chunks=_file_chunks(target), path=target)

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def presign(self, key: str, ttl_seconds: int) -> str | None:
        return None

    def describe(self) -> str:
        return f"local directory {self.root}"


def write_atomically(target: Path, data: bytes) -> None:
    """Write-then-rename: a reader never sees half a file, a crash leaves only a temp file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            yield chunk
