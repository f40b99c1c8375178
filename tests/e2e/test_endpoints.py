"""Every generation endpoint end to end over HTTP on the dev model set: fill (keeping unmasked
pixels, mask from alpha), canny (thresholds matter), depth, and Redux image prompts on pro and
ultra. And, on a base-only model set, the kinds it lacks are 501 and a Redux request ends Error
naming the missing pipeline; with a base-only worker, other kinds' tasks wait and are reported."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]


def b64(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def noise(size: tuple[int, int], seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = len(mode)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8),
                           mode)


def run(d: Deployment, path: str, **body: Any) -> np.ndarray:
    r = d.client.post(path, headers=d.headers,
                      json={"finetune_id": d.finetune_id, "output_format": "png", **body})
    assert r.status_code == 200, r.text
    done = wait_for(d.client, r.json()["id"], timeout=120)
    assert done["status"] == "Ready", done
    image = Image.open(io.BytesIO(d.client.get(done["result"]["sample"]).content))
    return np.asarray(image.convert("RGB")).astype(np.int16)


FILL = "/v1/flux-pro-1.0-fill-finetuned"
CANNY = "/v1/flux-pro-1.0-canny-finetuned"
DEPTH = "/v1/flux-pro-1.0-depth-finetuned"


def test_fill_keeps_unmasked_pixels(deployment: Deployment) -> None:
    image = noise((256, 256), seed=1)
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (64, 64, 192, 192))
    out = run(deployment, FILL, image=b64(image), mask=b64(mask), steps=15, seed=1,
              prompt="a window")
    src = np.asarray(image).astype(np.int16)
    keep = np.asarray(mask) == 0
    assert out.shape == src.shape
    assert np.array_equal(out[keep], src[keep])  # outside the mask: untouched, exactly
    assert np.abs(out[~keep] - src[~keep]).mean() > 5  # inside: repainted


def test_fill_mask_from_alpha(deployment: Deployment) -> None:
    rgba = noise((256, 256), seed=2).convert("RGBA")
    hole = Image.new("RGBA", (96, 96), (0, 0, 0, 0))
    rgba.paste(hole, (80, 80))
    out = run(deployment, FILL, image=b64(rgba), steps=15, seed=2)
    src = np.asarray(rgba.convert("RGB")).astype(np.int16)
    keep = np.asarray(rgba.getchannel("A")) > 0
    assert np.array_equal(out[keep], src[keep])


def test_fill_output_follows_the_input_size(deployment: Deployment) -> None:
    mask = Image.new("L", (400, 300), 255)
    out = run(deployment, FILL, image=b64(noise((400, 300))), mask=b64(mask), steps=15)
    assert out.shape[:2] == (304, 400)  # rounded to multiples of 16


def test_canny_thresholds_change_the_image(deployment: Deployment) -> None:
    control = noise((320, 256), seed=3)
    low = run(deployment, CANNY, prompt="edges", control_image=b64(control), steps=15, seed=3,
              canny_low_threshold=10, canny_high_threshold=50)
    high = run(deployment, CANNY, prompt="edges", control_image=b64(control), steps=15, seed=3,
               canny_low_threshold=300, canny_high_threshold=500)
    assert low.shape[:2] == (256, 320)  # follows the control image
    assert np.abs(low - high).mean() > 0.5


def test_depth_runs_through_the_estimator(deployment: Deployment) -> None:
    out = run(deployment, DEPTH, prompt="depth", control_image=b64(noise((256, 256), seed=4)),
              steps=15, seed=4)
    assert out.shape == (256, 256, 3)


def test_image_prompt_on_pro(deployment: Deployment) -> None:
    with_image = run(deployment, "/v1/flux-pro-finetuned", prompt="p", width=256, height=256,
                     steps=4, seed=5, image_prompt=b64(noise((128, 128), seed=5)))
    without = run(deployment, "/v1/flux-pro-finetuned", prompt="p", width=256, height=256,
                  steps=4, seed=5)
    assert np.abs(with_image - without).mean() > 0.5


def test_ultra_image_prompt_strength(deployment: Deployment) -> None:
    ultra = "/v1/flux-pro-1.1-ultra-finetuned"
    image = b64(noise((128, 128), seed=6))
    text_only = run(deployment, ultra, prompt="p", aspect_ratio="1:1", seed=6)
    s0 = run(deployment, ultra, prompt="p", aspect_ratio="1:1", seed=6, image_prompt=image,
             image_prompt_strength=0.0)
    s1 = run(deployment, ultra, prompt="p", aspect_ratio="1:1", seed=6, image_prompt=image,
             image_prompt_strength=1.0)
    assert np.array_equal(s0, text_only)  # 0 = the text prompt alone
    assert np.abs(s1 - text_only).mean() > 0.5


@pytest.fixture(scope="module")
def base_only(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path,
              dev_lora_file: Path) -> Iterator[Deployment]:
    """A server whose model set maps only `base` (the dev base pipeline)."""
    models = '{"base": "%s"}' % (dev_model_dir / "base")
    n = Node(data_dir=tmp_path_factory.mktemp("base-only"), dev_model_dir=dev_model_dir,
             extra_env={"FLUXHOST_MODELS": models})
    key, ft = provision(n, dev_lora_file)
    n.serve(workers=1)
    d = Deployment(n, key, ft)
    yield d
    d.client.close()
    n.stop_all()


def unserved(client: httpx.Client, kind: str) -> float:
    """fluxhost_queue_unserved_tasks{kind}, once a live worker is in the registry."""
    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + 60
    while True:
        samples = {(s.name, s.labels.get("kind")): s.value
                   for family in text_string_to_metric_families(client.get("/metrics").text)
                   for s in family.samples}
        if samples.get(("fluxhost_workers_live", "base"), 0) >= 1:
            return samples[("fluxhost_queue_unserved_tasks", kind)]
        assert time.monotonic() < deadline, "the worker never registered"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def base_worker_only(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path,
                     dev_lora_file: Path) -> Iterator[Deployment]:
    """A server with every kind's model configured whose only worker claims `base`: what a
    fleet looks like while its canny, depth and fill workers are away."""
    n = Node(data_dir=tmp_path_factory.mktemp("base-worker"), dev_model_dir=dev_model_dir)
    key, ft = provision(n, dev_lora_file)
    n.serve(workers=1, FLUXHOST_WORKER_KINDS="base")
    d = Deployment(n, key, ft)
    yield d
    d.client.close()
    n.stop_all()


KIND_CASES = [
    (CANNY, {"prompt": "p", "control_image": "IMG"}, "canny"),
    (DEPTH, {"prompt": "p", "control_image": "IMG"}, "depth"),
    (FILL, {"image": "IMG", "mask": "IMG"}, "fill"),
]


def payload_for(body: dict[str, str], finetune_id: str) -> dict[str, str]:
    image = b64(Image.new("RGB", (64, 64), (255, 255, 255)))
    return {"finetune_id": finetune_id, **{k: (image if v == "IMG" else v)
                                           for k, v in body.items()}}


@pytest.mark.parametrize(("path", "body", "kind"), KIND_CASES)
def test_a_kind_the_model_set_lacks_is_501_naming_it(
        base_only: Deployment, path: str, body: dict[str, str], kind: str) -> None:
    """No model for the kind anywhere in this configuration: refused at once, nothing queued."""
    r = base_only.client.post(path, headers=base_only.headers,
                              json=payload_for(body, base_only.finetune_id))
    assert r.status_code == 501, r.text
    assert f"its kind '{kind}'" in r.json()["detail"] and path in r.json()["detail"]
    assert unserved(base_only.client, kind) == 0


@pytest.mark.parametrize(("path", "body", "kind"), KIND_CASES)
def test_a_kind_no_worker_serves_stays_queued_and_is_reported(
        base_worker_only: Deployment, path: str, body: dict[str, str], kind: str) -> None:
    """Workers claim only what they can run: with no live `kind` worker the task waits (for a
    worker that has it) and /metrics says so, instead of being failed by one that lacks it."""
    d = base_worker_only
    r = d.client.post(path, headers=d.headers, json=payload_for(body, d.finetune_id))
    assert r.status_code == 200, r.text
    assert unserved(d.client, kind) >= 1
    # A base task submitted after it runs to the end: the worker is alive and claiming.
    after = d.client.post("/v1/flux-pro-finetuned", headers=d.headers,
                          json={"finetune_id": d.finetune_id, "prompt": "p",
                                "width": 256, "height": 256, "steps": 2})
    assert wait_for(d.client, after.json()["id"])["status"] == "Ready"
    waiting = d.client.get("/v1/get_result", params={"id": r.json()["id"]}).json()
    assert waiting["status"] == "Pending" and waiting["progress"] is None


def test_image_prompt_without_redux_ends_error_naming_it(base_only: Deployment) -> None:
    image = b64(Image.new("RGB", (64, 64), (255, 255, 255)))
    r = base_only.client.post("/v1/flux-pro-finetuned", headers=base_only.headers,
                              json={"finetune_id": base_only.finetune_id, "image_prompt": image})
    assert r.status_code == 200, r.text
    done = wait_for(base_only.client, r.json()["id"])
    assert done["status"] == "Error"
    assert "no 'redux' pipeline" in done["details"]["error"]
    assert "FLUXHOST_MODELS" in done["details"]["error"]
