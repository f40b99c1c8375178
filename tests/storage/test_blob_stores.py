"""The blob store interface, held by both implementations: a local directory and a bucket on a
real S3-protocol server (moto's, over HTTP). Then which store a setting names."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fluxhost.settings import Settings
from fluxhost.storage.blobs import BadBlobKey, BlobStore, BlobStoreError, LocalBlobStore
from fluxhost.storage.factory import open_blob_store
from fluxhost.storage.s3 import S3BlobStore, parse_s3_url

pytestmark = [pytest.mark.service]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_server")
    url = request.getfixturevalue("s3_url")
    return S3BlobStore(url, endpoint_url=endpoint, cache_dir=tmp_path / "cache")


def test_round_trip(store: BlobStore) -> None:
    assert store.get("results/a.png") is None and not store.exists("results/a.png")
    assert store.open("results/a.png") is None and store.local_path("results/a.png") is None
    data = bytes(range(256)) * 2000  # 512 kB: more than one streaming chunk
    store.put("results/a.png", data)
    assert store.exists("results/a.png") and store.get("results/a.png") == data
    blob = store.open("results/a.png")
    assert blob is not None and blob.size == len(data) and b"".join(blob.chunks) == data
    path = store.local_path("results/a.png")
    assert path is not None and path.read_bytes() == data
    store.put("results/a.png", b"replaced")  # a put replaces whole
    assert store.get("results/a.png") == b"replaced"
    store.delete("results/a.png")
    store.delete("results/a.png")  # deleting an absent blob is fine
    assert store.get("results/a.png") is None and not store.exists("results/a.png")


def test_bad_keys_refused(store: BlobStore) -> None:
    for bad in ("../x.png", "/abs.png", "a/../../b.png", "noext", "a//b.png"):
        with pytest.raises(BadBlobKey):
            store.put(bad, b"x")
        with pytest.raises(BadBlobKey):
            store.get(bad)


def test_s3_keys_live_under_the_prefix_and_presign(s3_server: str, s3_url: str,
                                                   tmp_path: Path) -> None:
    from tests.s3 import list_keys

    store = S3BlobStore(s3_url, endpoint_url=s3_server, cache_dir=tmp_path / "cache")
    store.put("results/t.png", b"\x89PNG fake")
    store.put("finetunes/f.safetensors", b"weights")
    assert list_keys(s3_server, s3_url) == ["finetunes/f.safetensors", "results/t.png"]
    bucket, prefix = parse_s3_url(s3_url)
    assert (bucket, prefix) == (s3_url.split("/")[2], "fleet/blobs")
    url = store.presign("results/t.png", 60)
    assert url is not None and url.startswith(f"{s3_server}/{bucket}/{prefix}/results/t.png?")
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"\x89PNG fake"
    assert r.headers["content-type"] == "image/png"  # stored with the object


def test_s3_local_path_is_a_cache(s3_server: str, s3_url: str, tmp_path: Path) -> None:
    """Weights are fetched once per node into its cache; deleting the blob drops the copy."""
    store = S3BlobStore(s3_url, endpoint_url=s3_server, cache_dir=tmp_path / "cache")
    store.put("finetunes/f.safetensors", b"weights")
    path = store.local_path("finetunes/f.safetensors")
    assert path == tmp_path / "cache" / "finetunes" / "f.safetensors"
    assert path.read_bytes() == b"weights"
    other = S3BlobStore(s3_url, endpoint_url=s3_server, cache_dir=tmp_path / "cache")
    assert other.local_path("finetunes/f.safetensors") == path
    store.delete("finetunes/f.safetensors")
    assert not path.exists() and store.local_path("finetunes/f.safetensors") is None


def test_unreachable_endpoint_is_a_blob_store_error(s3_url: str, tmp_path: Path) -> None:
    from tests.e2e.harness import free_port

    store = S3BlobStore(s3_url, endpoint_url=f"http://127.0.0.1:{free_port()}",
                        cache_dir=tmp_path / "cache")
    start = time.monotonic()
    with pytest.raises(BlobStoreError):
        store.get("results/x.png")
    assert time.monotonic() - start < 30  # bounded retries, not minutes
    with pytest.raises(OSError):  # callers tolerating a failing disk tolerate this alike
        store.put("results/x.png", b"x")


def test_settings_name_the_store(make_settings: Callable[..., Settings], tmp_path: Path,
                                 s3_server: str, s3_url: str) -> None:
    def opened(**kw: Any) -> BlobStore:
        return open_blob_store(make_settings(**kw))

    default = opened()
    assert isinstance(default, LocalBlobStore) and default.root == tmp_path / "data" / "blobs"
    explicit = opened(blob_dir=tmp_path / "elsewhere")  # FLUXHOST_BLOB_DIR as before
    assert isinstance(explicit, LocalBlobStore) and explicit.root == tmp_path / "elsewhere"
    by_url = opened(blob_url=f"file://{tmp_path}/u")
    assert isinstance(by_url, LocalBlobStore) and by_url.root == tmp_path / "u"
    by_path = opened(blob_url=str(tmp_path / "p"))
    assert isinstance(by_path, LocalBlobStore) and by_path.root == tmp_path / "p"
    s3 = opened(blob_url=s3_url, s3_endpoint_url=s3_server)
    assert isinstance(s3, S3BlobStore) and s3.cache_dir == tmp_path / "data" / "cache" / "blobs"
    s3.put("results/x.png", b"x")
    assert s3.get("results/x.png") == b"x"
    for bad in ("gs://bucket/x", "s3://", "file://host/x"):
        with pytest.raises(ValueError):
            opened(blob_url=bad)
