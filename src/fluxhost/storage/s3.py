"""Blobs in an S3-compatible bucket (AWS S3, MinIO, R2, garage, ...), through obstore.

Why obstore (the Rust `object_store` crate): in bench/blobs.py against a local S3 server it
puts and gets a 256x256 PNG faster than boto3, imports and builds its client in ~25 ms instead
of ~300 ms, uses ~30 MB less memory, needs no other Python package, and its calls release the
GIL, so a worker's threads overlap their transfers. `put` is atomic (a single PUT, or a
multipart upload that becomes visible whole), as the local store's write-then-rename is.

Credentials and region come from the standard AWS environment (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`, web identity,
ECS container and EC2 instance credentials), which obstore reads itself. Profiles and SSO
(`AWS_PROFILE`, `~/.aws/config`) are boto3's part of the chain: with no key in the environment
and boto3 installed, boto3's resolver supplies (and refreshes) the credentials."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fluxhost.storage.blobs import (
    CHUNK_BYTES,
    BlobReader,
    BlobStoreError,
    check_key,
    content_type_for,
    write_atomically,
)


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"not an s3://BUCKET/PREFIX URL: {url!r}")
    return parts.netloc, parts.path.strip("/")


@dataclass(frozen=True)
class CallBudget:
    """How long one object-store call may take. `timeout` bounds each HTTP request whole (body
    included); `stall` fails one that receives nothing for that long (a frozen server accepts
    connections and then never answers); `retries` more attempts follow a failure while less
    than `retry_window` has passed since the first."""

    connect: float
    timeout: float
    stall: float
    retries: int
    retry_window: float

    @classmethod
    def for_requests(cls, seconds: float) -> CallBudget:
        """The API's: a client is waiting, so one quick retry (a dropped connection) at most
        and never past `seconds`; a store that does not answer is then the client's 503."""
        return cls(connect=min(2.0, seconds), timeout=seconds, stall=seconds, retries=1,
                   retry_window=seconds)

    @classmethod
    def for_workers(cls, seconds: float) -> CallBudget:
        """Workers' and commands': nobody waits on the answer and LoRA weights may be large,
        so the whole call may take `seconds`; a stalled one still fails after 30 s (the
        worker's own backoff then retries it)."""
        return cls(connect=min(5.0, seconds), timeout=seconds, stall=min(30.0, seconds),
                   retries=3, retry_window=min(20.0, seconds))


WORKER_BUDGET = CallBudget.for_workers(120.0)


class S3BlobStore:
    def __init__(self, url: str, *, endpoint_url: str | None, cache_dir: Path,
                 budget: CallBudget = WORKER_BUDGET) -> None:
        try:
            from obstore.store import S3Store
        except ImportError as exc:  # the optional dependency, named in the message
            raise RuntimeError("FLUXHOST_BLOB_URL is s3://...: install fluxhost[s3]") from exc
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = url
        self.cache_dir = cache_dir
        self.budget = budget
        client: dict[str, Any] = {"connect_timeout": timedelta(seconds=budget.connect),
                                  "timeout": timedelta(seconds=budget.timeout),
                                  "read_timeout": timedelta(seconds=budget.stall)}
        config: dict[str, Any] = {}
        if endpoint_url:
            config["endpoint"] = endpoint_url
            client["allow_http"] = endpoint_url.startswith("http://")
        self._store = S3Store(
            self.bucket, prefix=self.prefix or None, client_options=client,  # type: ignore[arg-type]
            # Bounded: a dead endpoint fails a request within seconds rather than minutes.
            retry_config={"max_retries": budget.retries,
                          "retry_timeout": timedelta(seconds=budget.retry_window)},
            credential_provider=_profile_credentials(),
            **config,
        )

    def put(self, key: str, data: bytes) -> None:
        import obstore

        check_key(key)
        with _errors(key):
            obstore.put(self._store, key, data,
                        attributes={"Content-Type": content_type_for(key)})

    def get(self, key: str) -> bytes | None:
        import obstore

        check_key(key)
        with _errors(key):
            try:
                return bytes(obstore.get(self._store, key).bytes())
            except FileNotFoundError:
                return None

    def delete(self, key: str) -> None:
        import obstore

        check_key(key)
        with _errors(key):
            obstore.delete(self._store, key)  # S3 answers success for an absent key too
        self._cached(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        import obstore

        check_key(key)
        with _errors(key):
            try:
                obstore.head(self._store, key)
            except FileNotFoundError:
                return False
        return True

    def open(self, key: str) -> BlobReader | None:
        import obstore

        check_key(key)
        with _errors(key):
            try:
                result = obstore.get(self._store, key)
            except FileNotFoundError:
                return None
        return BlobReader(size=int(result.meta["size"]),
                          chunks=_chunks(result.stream(min_chunk_size=CHUNK_BYTES)))

    def local_path(self, key: str) -> Path | None:
        # Only immutable blobs take this path (finetune weights: a key is written once, before
        # the finetune turns Ready), so a cached copy never goes stale and is fetched once
        # per node.
        cached = self._cached(check_key(key))
        if cached.is_file():
            return cached
        data = self.get(key)
        if data is None:
            return None
        write_atomically(cached, data)
        return cached

    def presign(self, key: str, ttl_seconds: int) -> str | None:
        import obstore

        check_key(key)
        with _errors(key):
            return str(obstore.sign(self._store, "GET", key, timedelta(seconds=ttl_seconds)))

    def describe(self) -> str:
        return f"S3 bucket {self.url}"

    def _cached(self, key: str) -> Path:
        return self.cache_dir / key


def _chunks(stream: Any) -> Iterator[bytes]:
    for chunk in stream:
        yield bytes(chunk)


@contextlib.contextmanager
def _errors(key: str) -> Iterator[None]:
    """obstore's errors (network, auth, throttling after retries) as BlobStoreError; a
    missing object stays FileNotFoundError for the callers that expect it."""
    from obstore.exceptions import BaseError

    try:
        yield
    except FileNotFoundError:
        raise
    except BaseError as exc:
        raise BlobStoreError(f"blob {key}: {type(exc).__name__}: {exc}") from exc


def _profile_credentials() -> Any:
    """boto3's credential resolver when the environment names a profile or holds no key and an
    AWS config file exists (profiles, SSO, assume-role); else None: obstore's own chain."""
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return None
    aws_files = [Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")),
                 Path(os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"))]
    if not os.environ.get("AWS_PROFILE") and not any(p.expanduser().is_file()
                                                     for p in aws_files):
        return None
    try:
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        return None  # no boto3: obstore's chain (environment, container, instance metadata)
    return Boto3CredentialProvider()
