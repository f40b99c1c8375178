"""What the API and the workers share, built once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fluxhost.settings import Settings
from fluxhost.storage import BlobStore, UrlSigner, load_signing_key
from fluxhost.storage.factory import open_blob_store
from fluxhost.store import Store
from fluxhost.store.submitter import TaskSubmitter


@dataclass
class Services:
    settings: Settings
    store: Store
    blobs: BlobStore
    # The same store with the API's short budgets: a client waits on these calls
    # (BLOB_REQUEST_TIMEOUT_SECONDS); `blobs` serves workers and commands.
    request_blobs: BlobStore
    signer: UrlSigner
    submitter: TaskSubmitter
    # Set by the API on every submission so embedded workers claim at once instead of polling.
    task_available: threading.Event = field(default_factory=threading.Event)


def build_services(settings: Settings, store: Store | None = None) -> Services:
    from fluxhost.metrics import kinds

    kinds.register(settings.custom_kinds())
    store = store or Store.open(settings.resolved_database_url)
    key = load_signing_key(settings.signing_key, settings.data_dir)
    return Services(
        settings=settings,
        store=store,
        blobs=open_blob_store(settings),
        request_blobs=open_blob_store(settings, for_requests=True),
        signer=UrlSigner(key, settings.signed_url_ttl_seconds),
        submitter=TaskSubmitter(store, timeout=settings.submit_timeout_seconds),
    )
