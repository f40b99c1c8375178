"""An endpoint served by the operator's own checkpoint, in real processes: FLUXHOST_MODELS
defines kinds of its own, FLUXHOST_ENDPOINT_KINDS routes endpoints to them, and workers claim,
/ready lists and /metrics count by those kinds."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import provision
from tests.e2e.harness import Node, wait_for
from tests.metrics.test_fleet_metrics import scrape, value

pytestmark = [pytest.mark.service, pytest.mark.slow]

BODY = {"prompt": "a lighthouse at dusk", "width": 256, "height": 256, "seed": 11,
        "output_format": "png"}


def _pixels(client: httpx.Client, body: dict[str, object]) -> np.ndarray:
    sample = client.get(body["result"]["sample"])  # type: ignore[index]
    assert sample.status_code == 200
    return np.asarray(Image.open(io.BytesIO(sample.content)).convert("RGB")).astype(np.int16)


def _wait_live(node: Node, kind: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while value(scrape(f"{node.url}/metrics"), "fluxhost_workers_live", kind=kind) < 1:
        assert time.monotonic() < deadline, f"no live worker of {kind}: {node.logs()}"
        time.sleep(0.2)


def test_endpoints_on_operator_defined_kinds(tmp_path: Path, dev_model_dir: Path,
                                             dev_lora_file: Path,
                                             other_base_checkpoint: Path) -> None:
    models = {
        "base": str(dev_model_dir / "base"),
        "pro11": {"pipeline": "base", "source": str(other_base_checkpoint)},
        "same": {"pipeline": "base", "source": str(dev_model_dir / "base")},
    }
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir, extra_env={
        "FLUXHOST_MODELS": json.dumps(models),
        "FLUXHOST_ENDPOINT_KINDS": json.dumps({"flux-pro-1.1": "pro11", "flux-pro": "same"}),
    })
    node.data_dir.mkdir()
    try:
        key, _finetune = provision(node, dev_lora_file)
        # Only the operator's kinds are served at first: flux-dev (kind base) waits.
        node.serve(workers=1, FLUXHOST_WORKER_KINDS="pro11,same")
        client = httpx.Client(base_url=node.url, headers={"x-key": key}, timeout=30)
        ready = client.get("/ready").json()
        assert {"/v1/flux-pro-1.1", "/v1/flux-pro", "/v1/flux-dev"} <= set(ready["endpoints"])
        assert ready["endpoints_unserved"]["/v1/flux-pro-1.0-fill"] == "fill"
        health_models = client.get("/health").json()["models"]
        assert health_models["pro11"] == {"pipeline": "base",
                                          "source": str(other_base_checkpoint)}

        _wait_live(node, "pro11")
        ids = {endpoint: client.post(f"/v1/{endpoint}", json=body).json()["id"]
               for endpoint, body in (("flux-pro-1.1", BODY), ("flux-dev", BODY),
                                      ("flux-pro", {**BODY, "steps": 28, "guidance": 3.0}))}
        pro11 = wait_for(client, ids["flux-pro-1.1"])
        same = wait_for(client, ids["flux-pro"])
        assert pro11["status"] == same["status"] == "Ready"
        assert client.get("/v1/get_result", params={"id": ids["flux-dev"]}).json()["status"] \
            == "Pending"
        samples = scrape(f"{node.url}/metrics")
        assert value(samples, "fluxhost_queue_unserved_tasks", kind="base") == 1
        assert value(samples, "fluxhost_workers_live", kind="same") == 1

        node.worker(FLUXHOST_WORKER_KINDS="base")
        dev = wait_for(client, ids["flux-dev"])
        assert dev["status"] == "Ready"
        # flux-pro-1.1 runs at flux-dev's settings (28 steps, guidance 3): on the same weights
        # it would draw the same image, as flux-pro on kind "same" does; on the operator's own
        # checkpoint it draws another.
        dev_pixels = _pixels(client, dev)
        assert np.array_equal(_pixels(client, same), dev_pixels)
        assert np.abs(_pixels(client, pro11) - dev_pixels).mean() > 5
    finally:
        node.stop_all()
