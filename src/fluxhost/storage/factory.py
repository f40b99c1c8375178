"""The blob store a process's settings name."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from fluxhost.settings import Settings
from fluxhost.storage.blobs import BlobStore, LocalBlobStore


def open_blob_store(settings: Settings, *, for_requests: bool = False) -> BlobStore:
    """`FLUXHOST_BLOB_URL`: `s3://BUCKET/PREFIX`, `file:///dir` or a plain directory; unset,
    the local `BLOB_DIR` (DATA_DIR/blobs) as before. `for_requests`: the API's calls, made
    while a client waits, with the short BLOB_REQUEST_TIMEOUT_SECONDS budget; else workers'
    and commands' (BLOB_WORKER_TIMEOUT_SECONDS)."""
    url = settings.blob_url
    if not url:
        return LocalBlobStore(settings.resolved_blob_dir)
    if url.startswith("s3://"):
        from fluxhost.storage.s3 import CallBudget, S3BlobStore

        budget = (CallBudget.for_requests(settings.blob_request_timeout_seconds) if for_requests
                  else CallBudget.for_workers(settings.blob_worker_timeout_seconds))
        return S3BlobStore(url, endpoint_url=settings.s3_endpoint_url,
                           cache_dir=settings.resolved_blob_cache_dir, budget=budget)
    if url.startswith("file://"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"FLUXHOST_BLOB_URL: a file URL names no host: {url!r}")
        return LocalBlobStore(Path(unquote(parts.path)))
    if "://" in url:
        raise ValueError(f"FLUXHOST_BLOB_URL: unsupported scheme in {url!r} (s3:// or file://)")
    return LocalBlobStore(Path(url))
