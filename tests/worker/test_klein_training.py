"""A klein finetune trained through POST /v1/finetune (issue 19): an embedded worker claims the
train-klein-4b task, trains on the dev set's klein-4b and stores the LoRA; the finetune turns
Ready with base_model klein-4b, and its file serves on the klein pipeline (strength 1 changes
the image, 0 is the base model) and on /v1/flux-2-klein-4b-finetuned by its id at once."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from fluxhost.engine import Engine, Flux2, LoraSpec
from fluxhost.store.models import Finetune
from tests.api.test_finetunes import make_zip, png
from tests.conftest import Tenant


def _wait(client: TestClient, task_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get("/v1/get_result", params={"id": task_id}).json()
        if body["status"] != "Pending":
            return body
        time.sleep(0.1)
    raise AssertionError(f"{task_id} still Pending after {timeout} s")


def test_a_klein_finetune_trains_on_a_worker_and_serves(
        app_with: Callable[..., TestClient], tenant: Tenant, services: Any, engine: Engine,
        tmp_path: Path) -> None:
    client = app_with(workers=1)
    body = {"file_data": make_zip({"a.png": png(), "a.txt": b"TOK, a red square",
                                   "b.png": png()}),
            "finetune_comment": "klein reds", "mode": "style", "iterations": 100,
            "learning_rate": 0.005, "finetune_type": "lora", "lora_rank": 16,
            "priority": "speed", "base_model": "klein-4b"}
    r = client.post("/v1/finetune", headers=tenant.headers, json=body)
    assert r.status_code == 200, r.text
    finetune_id = r.json()["finetune_id"]
    done = _wait(client, finetune_id)
    assert done["status"] == "Ready", done
    assert done["result"]["lora_rank"] == 16 and done["result"]["iterations"] == 100
    details = client.get("/v1/finetune_details", params={"finetune_id": finetune_id},
                         headers=tenant.headers).json()["finetune_details"]
    assert details["status"] == "Ready" and details["base_model"] == "klein-4b"
    assert np.isfinite(details["final_loss"])

    with services.store.read() as s:
        row = s.get(Finetune, finetune_id)
    assert row is not None and row.base_model == "klein-4b" and row.lora_blob
    lora = tmp_path / "klein.safetensors"
    lora.write_bytes(services.blobs.get(row.lora_blob))

    def pixels(strength: float | None) -> np.ndarray:
        spec = None if strength is None else LoraSpec(finetune_id, lora, strength)
        req = Flux2("TOK, a red square", (), 64, 64, steps=2, guidance=1.0, seed=5, lora=spec,
                    kind="klein-4b")
        return np.asarray(engine.run(req), dtype=np.int16)

    base = pixels(None)
    assert np.abs(pixels(1.0) - base).mean() > 0.5, "the trained LoRA changes the image"
    assert np.array_equal(pixels(0.0), base)

    # Served at once by its uuid on part A's endpoint, through the same worker.
    def served(strength: float) -> np.ndarray:
        r = client.post("/v1/flux-2-klein-4b-finetuned", headers=tenant.headers, json={
            "prompt": "TOK, a red square", "finetune_id": finetune_id, "width": 64,
            "height": 64, "seed": 5, "finetune_strength": strength, "output_format": "png"})
        assert r.status_code == 200, r.text
        done = _wait(client, r.json()["id"])
        assert done["status"] == "Ready", done
        data = client.get(done["result"]["sample"]).content
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)

    assert np.abs(served(1.0) - served(0.0)).mean() > 0.5
