"""The nine FLUX.2 endpoints end to end over real HTTP (issue 18; the two klein -finetuned ones
of issue 19 with a LoRA uploaded for each base): a real `fluxhost serve` with
an embedded worker on the dev model set (tiny random FLUX.2 pipelines: the images are noise, so
the tests check statuses, sizes, formats and that inputs change pixels, never content), driven
as a client drives it: submit, poll get_result to Ready, download the image; the references,
a reference by URL (fetched by the server), the JS SDK's body, a signed webhook, `fluxhost
usage` and /metrics.

Every generation is tiny (sides of 256 px or less; klein runs its 4 steps, flex is asked for 4;
pro, pro-preview and max run FLUX.2 [dev]'s 50 steps of a 1+1-block transformer)."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from fluxhost import catalog
from fluxhost.webhooks.signature import verify_signature
from fluxhost.wire.flux2 import Flux2BaseInputs
from tests.e2e.harness import Node, wait_for
from tests.e2e.test_webhooks_e2e import Receiver
from tests.metrics.test_fleet_metrics import scrape, value

pytestmark = [pytest.mark.service, pytest.mark.slow]

FLUX2 = [e for e in catalog.ENDPOINTS if issubclass(e.model, Flux2BaseInputs)]
TIMEOUT = 180


@dataclass
class Server:
    node: Node
    client: httpx.Client
    key: str

    def submit(self, endpoint: str, **body: Any) -> dict[str, Any]:
        r = self.client.post(f"/v1/{endpoint}", json={"prompt": "a red door", **body})
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def ready(self, answer: dict[str, Any]) -> dict[str, Any]:
        """Polled as a client polls (its polling_url) until it ends; it must end Ready."""
        assert answer["polling_url"].startswith(f"{self.node.url}/v1/get_result?id=")
        result = wait_for(self.client, answer["id"], timeout=TIMEOUT)
        assert result["status"] == "Ready", (result, self.node.logs()[-3000:])
        return result

    def image(self, result: dict[str, Any]) -> Image.Image:
        """The result's image, downloaded from its sample URL (signed; no key needed)."""
        r = httpx.get(result["result"]["sample"], timeout=30)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/")
        img = Image.open(io.BytesIO(r.content))
        img.load()
        return img


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path) -> Iterator[Server]:
    # Image URLs on loopback allowed: test_a_reference_by_url serves one from this machine.
    node = Node(data_dir=tmp_path_factory.mktemp("flux2"), dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_IMAGE_URL_ALLOW_PRIVATE": "true"})
    node.data_dir.mkdir(parents=True, exist_ok=True)
    key = node.cli("keys", "create", "flux2")
    node.serve(workers=1)
    client = httpx.Client(base_url=node.url, headers={"x-key": key}, timeout=30)
    for base, name in LORAS.items():
        upload_lora(client, dev_model_dir, base, name,
                    tmp_path_factory.mktemp("loras") / f"{name}.safetensors")
    yield Server(node, client, key)
    client.close()
    node.stop_all()


# The LoRA uploaded for each klein base: the finetune_id of its -finetuned endpoint.
LORAS = {"klein-4b": "e2e-4b", "klein-9b": "e2e-9b"}


def upload_lora(client: httpx.Client, dev_model_dir: Path, base: str, name: str,
                file: Path) -> None:
    """A random LoRA for `base`'s dev transformer, uploaded under `name` as a client does."""
    from fluxhost.engine.families.flux2.dev_loras import write_layout_lora

    write_layout_lora(dev_model_dir / base, file, "ai-toolkit", seed=len(name))
    r = client.post("/v1/fluxhost/finetunes/upload", params={"name": name, "base": base},
                    content=file.read_bytes(),
                    headers={"content-type": "application/octet-stream"}, timeout=300)
    assert r.status_code == 200, r.text


def png(size: tuple[int, int], seed: int) -> str:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.int16)


# Each endpoint with a tiny body of its own: explicit sizes, sizes from a reference, a size
# left to the model on one side, the formats.
CASES: dict[str, tuple[dict[str, Any], tuple[int, int], str]] = {
    "flux-2-pro": ({"width": 128, "height": 96, "seed": 1}, (128, 96), "JPEG"),
    "flux-2-pro-preview": ({"width": 96, "height": 96, "disable_pup": True,
                            "output_format": "png"}, (96, 96), "PNG"),
    "flux-2-max": ({"input_image": png((160, 96), 2), "input_image_2": png((64, 64), 3)},
                   (160, 96), "JPEG"),
    "flux-2-flex": ({"steps": 4, "guidance": 3.5, "width": 144, "height": 112,
                     "prompt_upsampling": False, "output_format": "webp"}, (144, 112), "WEBP"),
    "flux-2-klein-4b": ({"input_image": png((128, 192), 4), "input_image_4": png((64, 64), 5)},
                        (128, 192), "JPEG"),
    "flux-2-klein-9b": ({"width": 256, "height": 128, "output_format": "png"}, (256, 128),
                        "PNG"),
    "flux-2-klein-9b-preview": ({"input_image": png((96, 64), 6), "height": 128}, (192, 128),
                                "JPEG"),
    "flux-2-klein-4b-finetuned": ({"finetune_id": LORAS["klein-4b"], "finetune_strength": 1.5,
                                   "width": 96, "height": 64}, (96, 64), "JPEG"),
    "flux-2-klein-9b-finetuned": ({"finetune_id": LORAS["klein-9b"],
                                   "input_image": png((64, 96), 14), "output_format": "png"},
                                  (64, 96), "PNG"),
}


def test_the_cases_cover_every_flux2_endpoint() -> None:
    assert sorted(CASES) == sorted(e.name for e in FLUX2) and len(CASES) == 9


def test_every_endpoint_ready_with_an_image_of_the_announced_size(server: Server) -> None:
    answers = {name: server.submit(name, **body) for name, (body, _, _) in CASES.items()}
    for name, (body, size, fmt) in CASES.items():
        answer = answers[name]
        assert answer["output_mp"] == round(size[0] * size[1] / 1e6, 2), name
        assert answer["cost"] is not None and answer["cost"] > 0, name
        result = server.ready(answer)
        img = server.image(result)
        assert (img.size, img.format) == (size, fmt), name
        assert result["result"]["seed"] == body.get("seed", result["result"]["seed"])
        assert isinstance(result["result"]["seed"], int)


def test_a_reference_changes_the_pixels(server: Server) -> None:
    """The same seed and size: without a reference twice the same image; with one another."""
    body = {"prompt": "a cat", "seed": 42, "width": 128, "height": 128, "output_format": "png"}
    plain = [server.submit("flux-2-klein-4b", **body) for _ in range(2)]
    referenced = server.submit("flux-2-klein-4b", **body, input_image=png((128, 128), 7))
    two = server.submit("flux-2-klein-4b", **body, input_image=png((128, 128), 7),
                        input_image_2=png((64, 64), 8))
    first, again, one_ref, two_refs = (pixels(server.image(server.ready(a)))
                                       for a in (*plain, referenced, two))
    assert np.array_equal(first, again)  # deterministic: what differs is the references'
    assert np.abs(one_ref - first).mean() > 1
    assert np.abs(two_refs - one_ref).mean() > 1
    # On FLUX.2 [dev] (flex, asked for 4 steps) too.
    flex = {**body, "steps": 4, "prompt_upsampling": False}
    without, with_ref = (pixels(server.image(server.ready(server.submit("flux-2-flex", **b))))
                         for b in (flex, {**flex, "input_image": png((128, 128), 9)}))
    assert np.abs(with_ref - without).mean() > 1


class ImageHost:
    """One PNG served over loopback HTTP, and the requests for it."""

    def __init__(self, data: bytes) -> None:
        self.hits: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ref.png"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_reference_by_url_draws_what_the_same_bytes_draw(server: Server) -> None:
    """input_image_2 as an http(s) URL, fetched by the server at submit: the image is the one
    the same bytes sent base64 give (same seed), and the URL was fetched once."""
    ref = png((128, 96), 12)
    host = ImageHost(base64.b64decode(ref))
    try:
        body = {"prompt": "two things", "seed": 9, "input_image": png((96, 96), 13),
                "output_format": "png"}
        by_url = server.submit("flux-2-klein-9b", **body, input_image_2=host.url)
        by_bytes = server.submit("flux-2-klein-9b", **body, input_image_2=ref)
        assert by_url["input_mp"] == by_bytes["input_mp"] == 0.02
        fetched, sent = (pixels(server.image(server.ready(a))) for a in (by_url, by_bytes))
    finally:
        host.close()
    assert host.hits == ["/ref.png"]
    assert np.array_equal(fetched, sent)


def test_the_js_sdk_body_is_accepted_and_ready(server: Server) -> None:
    """The popular JS SDK sends every model the same fields: those the model lacks are
    ignored (the reference past the last field too: not counted as an input)."""
    ref = png((128, 128), 10)
    body = {"prompt": "a lighthouse", "aspect_ratio": "16:9", "steps": 30, "guidance": 4.5,
            "raw": True, "prompt_upsampling": True, "input_image": ref, "input_image_9": ref,
            "input_image_10": ref, "width": 128, "height": 128, "seed": 3}
    for endpoint in ("flux-2-klein-9b", "flux-2-pro"):
        r = server.client.post(f"/v1/{endpoint}", json=body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["input_mp"] == 0.02  # input_image alone: 128 x 128
        img = server.image(server.ready(answer))
        assert img.size == (128, 128)


def test_get_result_and_a_signed_webhook(server: Server) -> None:
    receiver = Receiver()
    try:
        answer = server.submit("flux-2-klein-4b", prompt="a webhook", seed=11, width=64,
                               height=64, webhook_url=receiver.url, webhook_secret="s3cret",
                               user="end-user-7")
        headers, raw = receiver.wait(1)[0]
    finally:
        receiver.close()
    event = json.loads(raw)
    assert event["id"] == event["task_id"] == answer["id"]
    assert event["status"] == "SUCCESS" and event["error"] is None
    assert headers["x-bfl-signature"].startswith("sha256=")
    assert verify_signature(raw, "s3cret", headers["x-bfl-signature"])
    assert headers["x-webhook-secret"] == "s3cret"
    assert event["result"]["seed"] == 11 and event["result"]["prompt"] == "a webhook"
    assert len(receiver.calls) == 1  # delivered once

    polled = server.client.get("/v1/get_result", params={"id": answer["id"]}).json()
    assert polled["status"] == "Ready" and polled["result"]["seed"] == 11
    # The same blob, each URL signed when it was made (their expiry may differ by a second).
    assert polled["result"]["sample"].split("?")[0] == event["result"]["sample"].split("?")[0]
    assert server.image(polled).size == (64, 64)
    gone = server.client.get("/v1/get_result", params={"id": "no-such-task"})
    assert gone.json()["status"] == "Task not found"


# The smallest body of each endpoint, for the usage and metrics test (64 x 64).
TINY: dict[str, dict[str, Any]] = {e.name: {"width": 64, "height": 64} for e in FLUX2}
TINY["flux-2-flex"].update(steps=2, prompt_upsampling=False)
for _base, _name in LORAS.items():
    TINY[f"flux-2-{_base}-finetuned"]["finetune_id"] = _name


def test_usage_and_metrics_count_the_flux2_endpoints(server: Server) -> None:
    """Every FLUX.2 endpoint has a usage row for the key (`fluxhost usage`, as an operator
    runs it), and every FLUX.2 kind its metric series."""
    for answer in [server.submit(name, **body) for name, body in TINY.items()]:
        server.ready(answer)
    rows = json.loads(server.node.cli("usage", "--json", "--key", "flux2"))
    by_endpoint = {row["endpoint"]: row for row in rows}
    assert {e.name for e in FLUX2} <= set(by_endpoint), sorted(by_endpoint)
    for e in FLUX2:
        row = by_endpoint[e.name]
        assert row["key"] == "flux2" and row["tasks"] >= 1 and row["images"] >= 1, row
        assert row["output_mp"] > 0 and row["engine_seconds"] > 0, row
        assert row["cost"] is not None and row["cost"] > 0, row  # the built-in price table
    table = server.node.cli("usage", "--key", "flux2")
    assert all(e.name in table for e in FLUX2), table

    samples = scrape(f"{server.node.url}/metrics")
    for kind in sorted({e.kind for e in FLUX2}):  # flux2-dev, klein-4b, klein-9b, klein-9b-kv
        finished = value(samples, "fluxhost_tasks_finished_total", kind=kind, status="Ready")
        assert finished >= 1, (kind, sorted(k for k in samples if "finished" in k[0]))
        assert value(samples, "fluxhost_engine_seconds_count", kind=kind) >= 1, kind
        assert value(samples, "fluxhost_workers_live", kind=kind) >= 1, kind
    ready = server.client.get("/ready").json()
    assert {e.path for e in FLUX2} <= set(ready["endpoints"])
