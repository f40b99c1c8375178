"""Blob storage behind signed, expiring delivery URLs."""

from fluxhost.storage.blobs import BlobStore, LocalBlobStore, content_type_for
from fluxhost.storage.signing import UrlSigner, load_signing_key

__all__ = ["BlobStore", "LocalBlobStore", "UrlSigner", "content_type_for", "load_signing_key"]
