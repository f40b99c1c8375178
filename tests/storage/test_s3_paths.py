"""Every blob path of one process on S3 (a real S3-protocol server over HTTP): input images at
submit read back by the worker, results downloaded through the API's delivery URL (streamed,
or redirected to a presigned URL), training uploads, imported and cached LoRA weights, and
retention deleting the objects. The local blob directory is never written."""

from __future__ import annotations

import base64
import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fluxhost.api.app import create_app
from fluxhost.settings import Settings
from fluxhost.storage.s3 import S3BlobStore
from fluxhost.store.tasks import get_task
from fluxhost.worker import janitor
from fluxhost.worker.worker import Worker
from tests.conftest import Tenant
from tests.s3 import files_under, list_keys

pytestmark = [pytest.mark.service]


@pytest.fixture(scope="module")
def engine(dev_model_dir: Path) -> Any:
    from fluxhost.engine import Engine

    return Engine(Settings(_env_file=None, dev_model_dir=dev_model_dir))  # type: ignore[call-arg]


@pytest.fixture
def settings(make_settings: Any, s3_server: str, s3_url: str) -> Settings:
    s: Settings = make_settings(blob_url=s3_url, s3_endpoint_url=s3_server)
    return s


@pytest.fixture
def client(settings: Settings, services: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services)) as c:
        yield c


def b64_png(size: tuple[int, int] = (256, 256), colour: Any = (200, 40, 40),
            mode: str = "RGB") -> str:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def objects(settings: Settings) -> list[str]:
    assert settings.blob_url and settings.s3_endpoint_url
    return list_keys(settings.s3_endpoint_url, settings.blob_url)


def test_submit_inputs_worker_result_and_delivery_on_s3(
        settings: Settings, services: Any, client: TestClient, tenant: Tenant,
        engine: Any) -> None:
    assert isinstance(services.blobs, S3BlobStore)
    assert objects(settings) == [f"finetunes/{tenant.finetune_id}.safetensors"]  # the import
    r = client.post("/v1/flux-pro-1.0-fill-finetuned", headers=tenant.headers, json={
        "finetune_id": tenant.finetune_id, "prompt": "a red door", "steps": 15,
        "image": b64_png(), "mask": b64_png(colour=255, mode="L"), "output_format": "png"})
    assert r.status_code == 200, r.text
    tid = r.json()["id"]
    assert sorted(objects(settings))[1:] == [f"inputs/{tid}-image.bin", f"inputs/{tid}-mask.bin"]

    assert Worker(services, engine).run_one()  # reads its inputs and the LoRA from S3
    task = get_task(services.store, tid)
    assert task is not None and task.status == "Ready", task.details if task else None
    assert f"results/{tid}.png" in objects(settings)
    lora = settings.resolved_blob_cache_dir / f"finetunes/{tenant.finetune_id}.safetensors"
    assert lora.is_file()  # the weights diffusers loaded: a per-node copy of the object

    body = client.get("/v1/get_result", params={"id": tid}).json()
    sample = body["result"]["sample"]
    assert "/delivery/results/" in sample
    got = client.get(sample)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content == services.blobs.get(f"results/{tid}.png")
    assert int(got.headers["content-length"]) == len(got.content)
    assert Image.open(io.BytesIO(got.content)).size == (256, 256)
    assert "max-age=" in got.headers["cache-control"]
    # The API's own signature still rules: tampered or expired URLs are refused.
    assert client.get(sample.replace("sig=", "sig=x")).status_code == 403
    assert files_under(settings.resolved_blob_dir) == []  # nothing on the local disk


def test_presigned_redirect_setting(make_settings: Any, settings: Settings, services: Any,
                                    tenant: Tenant) -> None:
    import httpx

    services.blobs.put("results/r.png", b"\x89PNG bytes")
    redirecting = make_settings(blob_url=settings.blob_url,
                                s3_endpoint_url=settings.s3_endpoint_url,
                                delivery_redirect=True)
    url = services.signer.sign("http://testserver", "results/r.png")
    with TestClient(create_app(redirecting, services), follow_redirects=False) as c:
        r = c.get(url)
        assert r.status_code == 307 and r.headers["location"].startswith(
            settings.s3_endpoint_url or "")
        assert httpx.get(r.headers["location"]).content == b"\x89PNG bytes"
        gone = services.signer.sign("http://testserver", "results/absent.png")
        assert c.get(gone).status_code == 404  # ours, not the bucket's


def test_training_upload_goes_to_s3(settings: Settings, client: TestClient,
                                    tenant: Tenant) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(2):
            img = io.BytesIO()
            Image.new("RGB", (64, 64), (i * 100, 50, 50)).save(img, "PNG")
            zf.writestr(f"img{i}.png", img.getvalue())
    r = client.post("/v1/finetune", headers=tenant.headers, json={
        "file_data": base64.b64encode(buf.getvalue()).decode(), "finetune_comment": "s3",
        "mode": "general", "iterations": 100, "finetune_type": "lora"})
    assert r.status_code == 200, r.text
    ft = r.json()["finetune_id"]
    assert f"training/{ft}.zip" in objects(settings)
    from fluxhost.storage.blobs import BlobStore

    blobs: BlobStore = client.app.state.services.blobs  # type: ignore[attr-defined]
    assert blobs.get(f"training/{ft}.zip") == buf.getvalue()


def test_retention_deletes_objects(settings: Settings, services: Any, tenant: Tenant) -> None:
    from fluxhost.store import queue
    from fluxhost.store.tasks import submit_task

    params = {"_input_blobs": {"image": "inputs/t-image.bin"}}
    tid = submit_task(services.store, key_id=tenant.key_id, endpoint="flux-pro-finetuned",
                      params=params, base_url="http://x", webhook_url=None,
                      webhook_secret=None, active_limit=10)
    services.blobs.put("inputs/t-image.bin", b"in")
    services.blobs.put("results/t.png", b"out")
    queue.claim(services.store, "w", lease_seconds=30, max_attempts=3, retention_seconds=0)
    queue.finish(services.store, tid, "w", queue.Outcome("Ready", result={"seed": 1},
                                                         blob_key="results/t.png"),
                 retention_seconds=0.01)
    time.sleep(0.05)
    assert janitor.sweep(services) == 2
    assert objects(settings) == [f"finetunes/{tenant.finetune_id}.safetensors"]
