"""The ten non-finetuned endpoints end to end over HTTP on the dev model set: the app
in-process with an embedded worker; each task polled to Ready and its image downloaded and
measured. Expand keeps every original pixel; Kontext runs with 0, 1 and 4 input images."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fluxhost.settings import Settings

pytestmark = [pytest.mark.slow]


class Api:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.headers = {"x-key": key}

    def run(self, path: str, **body: Any) -> np.ndarray:
        r = self.client.post(path, headers=self.headers, json={"output_format": "png", **body})
        assert r.status_code == 200, r.text
        task_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while True:
            result = self.client.get("/v1/get_result", params={"id": task_id}).json()
            if result["status"] not in ("Pending", "Queued"):
                break
            assert time.monotonic() < deadline, result
            time.sleep(0.05)
        assert result["status"] == "Ready", result
        sample = self.client.get(result["result"]["sample"])
        assert sample.status_code == 200
        image = Image.open(io.BytesIO(sample.content))
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path) -> Iterator[Api]:
    from fluxhost.api.app import create_app
    from fluxhost.services import build_services
    from fluxhost.store.keys import create_key

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path_factory.mktemp("base-e2e"),
        dev_model_dir=dev_model_dir, workers=1, heartbeat_seconds=0.2,
        ultra_steps=4, kontext_steps=4,
    )
    svc = build_services(settings)
    _info, key = create_key(svc.store, "base-e2e")
    with TestClient(create_app(settings, svc)) as client:
        yield Api(client, key)
    svc.store.dispose()


def b64(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize(("path", "body", "shape"), [
    ("/v1/flux-pro-1.1", {"width": 256, "height": 320}, (320, 256)),
    ("/v1/flux-pro", {"width": 256, "height": 256, "steps": 4, "interval": 3}, (256, 256)),
    ("/v1/flux-dev", {"width": 320, "height": 256, "steps": 4, "guidance": None}, (256, 320)),
    ("/v1/flux-pro-1.1-ultra", {"aspect_ratio": "1:1", "raw": True}, (256, 256)),
])
def test_text_to_image(api: Api, path: str, body: dict[str, Any],
                       shape: tuple[int, int]) -> None:
    assert api.run(path, prompt="a lighthouse", seed=1, **body).shape == (*shape, 3)


def test_image_prompt_through_redux(api: Api) -> None:
    body = {"prompt": "p", "width": 256, "height": 256, "steps": 4, "seed": 2}
    plain = api.run("/v1/flux-dev", **body)
    remix = api.run("/v1/flux-dev", image_prompt=b64(noise((128, 128), 2)), **body)
    assert np.abs(plain.astype(int) - remix).mean() > 0.5


def test_fill_keeps_unmasked_pixels(api: Api) -> None:
    image = noise((256, 256), seed=3)
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (64, 64, 192, 192))
    out = api.run("/v1/flux-pro-1.0-fill", image=b64(image), mask=b64(mask), steps=15, seed=3)
    keep = np.asarray(mask) == 0
    assert out.shape == (256, 256, 3)
    assert np.array_equal(out[keep], np.asarray(image)[keep])


@pytest.mark.parametrize(("size", "pad"), [((200, 150), (16, 8, 24, 0)),
                                           ((256, 256), (0, 0, 0, 130))])
def test_expand_keeps_every_original_pixel(api: Api, size: tuple[int, int],
                                           pad: tuple[int, int, int, int]) -> None:
    image = noise(size, seed=4)
    top, bottom, left, right = pad
    out = api.run("/v1/flux-pro-1.0-expand", image=b64(image), top=top, bottom=bottom,
                  left=left, right=right, steps=15, seed=4, prompt="more")
    assert out.shape == (top + size[1] + bottom, left + size[0] + right, 3)
    assert np.array_equal(out[top:top + size[1], left:left + size[0]], np.asarray(image))


def test_canny_and_depth(api: Api) -> None:
    control = b64(noise((320, 256), seed=5))
    canny = api.run("/v1/flux-pro-1.0-canny", prompt="edges", control_image=control, steps=15,
                    seed=5)
    depth = api.run("/v1/flux-pro-1.0-depth", prompt="depth", control_image=control, steps=15,
                    seed=5)
    assert canny.shape == depth.shape == (256, 320, 3)


@pytest.mark.parametrize("path", ["/v1/flux-pro-1.0-canny", "/v1/flux-pro-1.0-depth"])
def test_preprocessed_image_sets_the_size(api: Api, path: str) -> None:
    # The preprocessed image wins over control_image (the output follows its size).
    out = api.run(path, prompt="p", control_image=b64(noise((512, 512), 6)),
                  preprocessed_image=b64(noise((256, 384), 7)), steps=15, seed=6)
    assert out.shape == (384, 256, 3)


@pytest.mark.parametrize(("path", "count", "extra", "shape"), [
    ("/v1/flux-kontext-pro", 0, {}, (256, 256)),  # text to image, 1:1
    ("/v1/flux-kontext-max", 0, {"aspect_ratio": "16:9"}, (192, 336)),
    ("/v1/flux-kontext-pro", 1, {}, (176, 352)),  # the input image's 2:1
    ("/v1/flux-kontext-max", 4, {"aspect_ratio": "9:16"}, (336, 192)),
])
def test_kontext(api: Api, path: str, count: int, extra: dict[str, Any],
                 shape: tuple[int, int]) -> None:
    names = ("input_image", "input_image_2", "input_image_3", "input_image_4")
    images = {name: b64(noise((400, 200), seed)) for seed, name in enumerate(names[:count])}
    out = api.run(path, prompt="make it night", seed=8, **images, **extra)
    assert out.shape == (*shape, 3)
