"""Blob storage behind signed, expiring delivery URLs."""

from fluxhost.storage.blobs import (
    BlobReader,
    BlobStore,
    BlobStoreError,
    LocalBlobStore,
    content_type_for,
)
from fluxhost.storage.signing import UrlSigner, load_signing_key

__all__ = ["BlobReader", "BlobStore", "BlobStoreError", "LocalBlobStore", "UrlSigner",
           "content_type_for", "load_signing_key"]
