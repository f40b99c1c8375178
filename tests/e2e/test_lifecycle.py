"""The task lifecycle over real HTTP on loopback, with a real embedded worker on the dev model."""

from __future__ import annotations

import io
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import Deployment
from tests.e2e.harness import wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]


def image_of(d: Deployment, body: dict[str, object]) -> tuple[np.ndarray, str]:
    result = body["result"]
    assert isinstance(result, dict)
    r = d.client.get(result["sample"])
    assert r.status_code == 200, r.text
    img = Image.open(io.BytesIO(r.content))
    img.load()
    return np.asarray(img.convert("RGB")).astype(np.int16), r.headers["content-type"]


def test_submit_poll_download(deployment: Deployment) -> None:
    d = deployment
    r = d.submit(prompt="a lighthouse", seed=7)
    assert r.status_code == 200
    task_id = r.json()["id"]
    body = wait_for(d.client, task_id)
    assert body["status"] == "Ready", body
    assert body["progress"] is None and body["details"] is None
    result = body["result"]
    assert set(result) == {"sample", "prompt", "seed", "start_time", "end_time", "duration"}
    assert result["prompt"] == "a lighthouse" and result["seed"] == 7
    assert result["end_time"] >= result["start_time"]
    assert result["duration"] == pytest.approx(result["end_time"] - result["start_time"])
    assert result["sample"].startswith(d.node.url + "/delivery/")
    pixels, ctype = image_of(d, body)
    assert ctype == "image/jpeg" and pixels.shape == (256, 256, 3)


def test_png_and_fresh_signature_per_poll(deployment: Deployment) -> None:
    d = deployment
    task_id = d.submit(output_format="png", seed=1).json()["id"]
    first = wait_for(d.client, task_id)
    time.sleep(1.1)
    second = d.client.get("/v1/get_result", params={"id": task_id}).json()
    exp1 = int(parse_qs(urlparse(first["result"]["sample"]).query)["exp"][0])
    exp2 = int(parse_qs(urlparse(second["result"]["sample"]).query)["exp"][0])
    assert exp2 > exp1  # every poll signs afresh, for a full ten minutes
    assert exp2 - time.time() == pytest.approx(600, abs=5)
    _, ctype = image_of(d, second)
    assert ctype == "image/png"


def test_forged_or_expired_signature_is_403(deployment: Deployment) -> None:
    d = deployment
    body = wait_for(d.client, d.submit(seed=2).json()["id"])
    url = body["result"]["sample"]
    forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    r = d.client.get(forged)
    assert r.status_code == 403 and r.json() == {"detail": "Invalid signature"}
    q = parse_qs(urlparse(url).query)
    moved = url.replace(f"exp={q['exp'][0]}", f"exp={int(q['exp'][0]) + 3600}")
    assert d.client.get(moved).status_code == 403  # the expiry is signed too


def test_same_seed_same_image_other_seed_differs(deployment: Deployment) -> None:
    d = deployment
    ids = [d.submit(seed=s, output_format="png", prompt="p").json()["id"] for s in (11, 11, 12)]
    a, b, c = (image_of(d, wait_for(d.client, i))[0] for i in ids)
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 1.0


def test_generated_seed_is_reported_and_reproduces(deployment: Deployment) -> None:
    d = deployment
    first = wait_for(d.client, d.submit(output_format="png").json()["id"])
    seed = first["result"]["seed"]
    assert isinstance(seed, int)
    again = wait_for(d.client, d.submit(output_format="png", seed=seed).json()["id"])
    assert np.array_equal(image_of(d, first)[0], image_of(d, again)[0])


def test_lora_strength_changes_pixels(deployment: Deployment) -> None:
    d = deployment
    imgs = {}
    for strength in (0.0, 1.0, 2.0):
        tid = d.submit(seed=5, output_format="png", finetune_strength=strength).json()["id"]
        imgs[strength] = image_of(d, wait_for(d.client, tid))[0]
    d01 = np.abs(imgs[0.0] - imgs[1.0]).mean()
    d12 = np.abs(imgs[1.0] - imgs[2.0]).mean()
    d02 = np.abs(imgs[0.0] - imgs[2.0]).mean()
    assert d01 > 1.0 and d12 > 1.0
    assert d02 > d01  # amplified moves further from the base than as-trained


def test_ultra_uses_aspect_ratio(deployment: Deployment) -> None:
    d = deployment
    r = d.client.post("/v1/flux-pro-1.1-ultra-finetuned", headers=d.headers,
                      json={"finetune_id": d.finetune_id, "aspect_ratio": "21:9", "seed": 3})
    body = wait_for(d.client, r.json()["id"], timeout=120)
    assert body["status"] == "Ready", body
    pixels, _ = image_of(d, body)
    height, width = pixels.shape[:2]
    assert width > height and width / height == pytest.approx(21 / 9, rel=0.15)
    assert width % 32 == 0 and height % 32 == 0


def test_progress_is_reported_while_running(deployment: Deployment) -> None:
    d = deployment
    # Long enough (a few seconds) for 50 ms polls to see it mid-run, at a quarter of 1024².
    tid = d.submit(width=512, height=512, steps=30, seed=9).json()["id"]
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = d.client.get("/v1/get_result", params={"id": tid}).json()
        if body["status"] != "Pending":
            break
        if body["progress"] is not None:
            seen.append(body["progress"])
        time.sleep(0.05)
    assert body["status"] == "Ready"
    assert any(0 < p < 1 for p in seen), seen
    assert seen == sorted(seen)


def test_health_reports_the_dev_model(deployment: Deployment) -> None:
    body = deployment.client.get("/health").json()
    assert body["status"] == "ok" and "noise" in body["models"]


def test_strength_zero_is_the_base_model(deployment: Deployment, dev_model_dir: Path) -> None:
    """Over HTTP at strength 0, pixel for pixel what the base pipeline draws with no LoRA."""
    from fluxhost.engine import Engine, TextToImage
    from fluxhost.settings import Settings

    d = deployment
    tid = d.submit(seed=21, output_format="png", prompt="base", finetune_strength=0).json()["id"]
    served, _ = image_of(d, wait_for(d.client, tid))
    engine = Engine(Settings(_env_file=None, dev_model_dir=dev_model_dir))  # type: ignore[call-arg]
    direct = engine.run(TextToImage(prompt="base", width=256, height=256, steps=4,
                                              guidance=2.5, seed=21))
    assert np.array_equal(served, np.asarray(direct.convert("RGB")).astype(np.int16))
