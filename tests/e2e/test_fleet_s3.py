"""A fleet with no shared disk: two API nodes and two worker processes, each on its own data
directory, sharing only PostgreSQL, an S3 bucket (a real S3-protocol server over HTTP) and the
signing key. A task submitted through one node is polled and downloaded through the other; a
finetune imported with the CLI or trained through the API is used by workers on any node."""

from __future__ import annotations

import base64
import io
import secrets
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, wait_for
from tests.e2e.test_scaleout import wait_started
from tests.e2e.test_training import training_zip
from tests.s3 import files_under, list_keys

pytestmark = [pytest.mark.service, pytest.mark.slow]


def png_b64(colour: object, mode: str = "RGB") -> str:
    buf = io.BytesIO()
    Image.new(mode, (256, 256), colour).save(buf, "PNG")  # type: ignore[arg-type]
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.timeout(900)  # trains a finetune on 2 CPU workers: minutes on a loaded machine
def test_two_nodes_two_workers_share_only_postgres_and_s3(
        tmp_path: Path, dev_model_dir: Path, dev_lora_file: Path, pg_url: str,
        s3_server: str, s3_url: str) -> None:
    shared = {"FLUXHOST_DATABASE_URL": pg_url, "FLUXHOST_BLOB_URL": s3_url,
              "FLUXHOST_S3_ENDPOINT_URL": s3_server,
              "FLUXHOST_SIGNING_KEY": secrets.token_urlsafe(32)}
    a = Node(data_dir=tmp_path / "a", dev_model_dir=dev_model_dir, extra_env=shared)
    b = Node(data_dir=tmp_path / "b", dev_model_dir=dev_model_dir, extra_env=shared)
    for n in (a, b):
        n.data_dir.mkdir()
    try:
        key, ft = provision(a, dev_lora_file)  # `fluxhost finetunes import` puts it in S3
        assert list_keys(s3_server, s3_url) == [f"finetunes/{ft}.safetensors"]
        a.serve(workers=0)
        b.serve(workers=0)
        a.worker()
        b.worker()
        wait_started(a, 1)
        wait_started(b, 1)
        via_a, via_b = Deployment(a, key, ft), Deployment(b, key, ft)

        ids = [via_a.submit(seed=i, steps=8, output_format="png").json()["id"]
               for i in range(6)]
        fill = via_a.submit("/v1/flux-pro-1.0-fill-finetuned", steps=15, prompt="a door",
                            image=png_b64((200, 40, 40)), mask=png_b64(255, "L"))
        assert fill.status_code == 200, fill.text
        ids.append(fill.json()["id"])
        ids.append(via_b.submit(seed=99, steps=8).json()["id"])
        for i, task_id in enumerate(ids):
            other = via_b if i < len(ids) - 1 else via_a  # polled through the other node
            done = wait_for(other.client, task_id, timeout=180)
            assert done["status"] == "Ready", done
            sample = done["result"]["sample"]
            assert sample.startswith(other.node.url + "/delivery/")
            got = other.client.get(sample)
            assert got.status_code == 200 and len(got.content) > 100
            Image.open(io.BytesIO(got.content)).verify()
            # The first node's signature is the fleet's: its URL works on the second node.
            assert httpx.get(sample.replace(other.node.url, (a if other is b else b).url)
                             ).content == got.content

        r = via_a.client.post("/v1/finetune", headers=via_a.headers, json={
            "file_data": training_zip(), "finetune_comment": "fleet", "mode": "style",
            "iterations": 100, "learning_rate": 0.005, "lora_rank": 16,
            "finetune_type": "lora", "priority": "speed"})
        assert r.status_code == 200, r.text
        trained = r.json()["finetune_id"]
        assert f"training/{trained}.zip" in list_keys(s3_server, s3_url)
        assert wait_for(via_b.client, trained, timeout=300)["status"] == "Ready"
        assert f"finetunes/{trained}.safetensors" in list_keys(s3_server, s3_url)
        uses = [via_b.submit(finetune_id=trained, seed=i, steps=8).json()["id"]
                for i in range(2)]
        for task_id in uses:
            assert wait_for(via_a.client, task_id, timeout=180)["status"] == "Ready"

        keys = list_keys(s3_server, s3_url)
        assert {k.split("/")[0] for k in keys} == {"finetunes", "inputs", "results", "training"}
        for n in (a, b):  # no node wrote a blob to its own disk
            assert files_under(n.data_dir / "blobs") == []
        # Workers read weights through their own node's cache, fetched from the bucket.
        cached = [p.name for n in (a, b) for p in files_under(n.data_dir / "cache" / "blobs")]
        assert f"{trained}.safetensors" in cached or f"{ft}.safetensors" in cached
        workers = {n.data_dir.name for n in (a, b)
                   for p in n.data_dir.glob("worker-*.log") if '"task finished"' in p.read_text()}
        assert workers == {"a", "b"}, (a.logs(), b.logs())  # both worker processes took work
    finally:
        a.stop_all()
        b.stop_all()
