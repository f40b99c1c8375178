"""Training over HTTP on the dev model: upload a zip, poll the training like any task, then
generate with the new finetune; ownership holds for every management endpoint."""

from __future__ import annotations

import base64
import io
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import Deployment
from tests.e2e.harness import wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]


def training_zip() -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, colour in enumerate([(220, 20, 20), (20, 220, 20), (20, 20, 220)]):
            img = io.BytesIO()
            Image.new("RGB", (96, 96), colour).save(img, "PNG")
            zf.writestr(f"img{i}.png", img.getvalue())
        zf.writestr("img0.txt", "a red square")
    return base64.b64encode(buf.getvalue()).decode()


def image(d: Deployment, finetune_id: str, strength: float) -> np.ndarray:
    r = d.client.post("/v1/flux-pro-finetuned", headers=d.headers,
                      json={"finetune_id": finetune_id, "finetune_strength": strength,
                            "width": 256, "height": 256, "steps": 4, "seed": 9,
                            "output_format": "png", "prompt": "TOK"})
    assert r.status_code == 200, r.text
    done = wait_for(d.client, r.json()["id"])
    assert done["status"] == "Ready", done
    data = d.client.get(done["result"]["sample"]).content
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)


@pytest.mark.parametrize("finetune_type", ["lora", "full"])
def test_train_then_generate(deployment: Deployment, finetune_type: str) -> None:
    d = deployment
    r = d.client.post("/v1/finetune", headers=d.headers, json={
        "file_data": training_zip(), "finetune_comment": f"squares-{finetune_type}",
        "mode": "style", "iterations": 100, "learning_rate": 0.005, "lora_rank": 16,
        "finetune_type": finetune_type, "priority": "speed"})
    assert r.status_code == 200, r.text
    finetune_id = r.json()["finetune_id"]
    done = wait_for(d.client, finetune_id, timeout=300)
    assert done["status"] == "Ready", done
    assert done["result"]["finetune_id"] == finetune_id
    assert done["result"]["lora_rank"] == 16 and done["result"]["iterations"] == 100
    details = d.client.get("/v1/finetune_details", params={"finetune_id": finetune_id},
                           headers=d.headers).json()["finetune_details"]
    assert details["status"] == "Ready" and details["captions"] == "captioner+files"

    base = image(d, finetune_id, 0.0)
    tuned = image(d, finetune_id, 1.0)
    assert np.abs(base - tuned).mean() > 0.5  # the new finetune changes the image

    other = d.node.cli("keys", "create", f"other-{finetune_type}")
    for path, params in (("/v1/finetune_details", {"finetune_id": finetune_id}),):
        assert d.client.get(path, params=params, headers={"x-key": other}).status_code == 404
    assert d.client.post("/v1/flux-pro-finetuned", headers={"x-key": other},
                         json={"finetune_id": finetune_id}).status_code == 404
    assert d.client.post("/v1/delete_finetune", headers={"x-key": other},
                         json={"finetune_id": finetune_id}).status_code == 404
    assert finetune_id not in d.client.get("/v1/my_finetunes",
                                           headers={"x-key": other}).json()["finetunes"]


def test_delete_while_training_stops_it(deployment: Deployment) -> None:
    d = deployment
    r = d.client.post("/v1/finetune", headers=d.headers, json={
        "file_data": training_zip(), "finetune_comment": "long", "mode": "general",
        "iterations": 1000, "finetune_type": "lora", "lora_rank": 16, "priority": "quality"})
    finetune_id = r.json()["finetune_id"]
    body = wait_for(d.client, finetune_id, until={"Pending"})
    for _ in range(600):  # until the worker is actually training
        body = d.client.get("/v1/get_result", params={"id": finetune_id}).json()
        if body["progress"]:
            break
        time.sleep(0.05)
    assert body["status"] == "Pending" and body["progress"], body
    assert d.client.post("/v1/delete_finetune", headers=d.headers,
                         json={"finetune_id": finetune_id}).status_code == 200
    body = d.client.get("/v1/get_result", params={"id": finetune_id}).json()
    assert body["status"] == "Error" and "deleted during training" in body["details"]["error"]
    # The worker lets go of it (at its next heartbeat) and serves the next task.
    r = d.client.post("/v1/flux-pro-finetuned", headers=d.headers,
                      json={"finetune_id": d.finetune_id, "width": 256, "height": 256,
                            "steps": 4})
    assert wait_for(d.client, r.json()["id"], timeout=60)["status"] == "Ready"
