"""What a client is told when its task ends Error: one line, bounded, and nothing about the
infrastructure behind it (endpoints, buckets, blob keys, file paths). The full detail goes to
the server's log, where the operator needs it."""

from __future__ import annotations

import logging
import re

from fluxhost.storage.blobs import BlobStoreError

log = logging.getLogger(__name__)

# details.error and the webhook's `error`: short enough to show whole in a client's message.
MAX_REASON_CHARS = 300
BLOB_STORE_UNAVAILABLE = "the blob store is unavailable"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S*")
_SPACE = re.compile(r"\s+")


def client_reason(reason: str) -> str:
    """`reason` as one line of at most MAX_REASON_CHARS, URLs (endpoints, s3://bucket/prefix)
    replaced by <url>; logged whole when that changed it."""
    cleaned = _SPACE.sub(" ", _URL.sub("<url>", reason)).strip()
    if len(cleaned) > MAX_REASON_CHARS:
        cleaned = cleaned[:MAX_REASON_CHARS - 3].rstrip() + "..."
    if cleaned != reason:
        log.warning("task error reason shortened for the client", extra={"reason": reason})
    return cleaned


def describe(exc: BaseException) -> str:
    """An unexpected exception for a client: its type and message, except where the message
    names the infrastructure by design (a store error names its key and endpoint, an OS error
    its file)."""
    if isinstance(exc, BlobStoreError):
        return BLOB_STORE_UNAVAILABLE
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"
