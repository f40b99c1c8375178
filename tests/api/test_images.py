"""Input images are decoded whole at submit, off the event loop: a truncated or corrupt image in
any image field is a 422 naming that field (it answered 500 before), and what one request may
ask to decode is bounded from the headers first."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fluxhost.api.app import create_app
from fluxhost.api.images import DecodeLimiter, check_images
from fluxhost.catalog import ENDPOINT_MODELS, IMAGE_FIELDS
from tests.conftest import Tenant

IMAGE_CASES = [(endpoint, field) for endpoint, model in ENDPOINT_MODELS.items()
               for field in IMAGE_FIELDS[model]]


def noise_image(size: tuple[int, int] = (64, 64), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """Noise: the compressed data is most of the file, so a cut lands in the pixels."""
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], len(mode)), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, fmt)
    return buf.getvalue()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def truncated(raw: bytes) -> bytes:
    return raw[: len(raw) * 6 // 10]


def body_for(endpoint: str, field: str, value: str, tenant: Tenant) -> dict[str, Any]:
    model = ENDPOINT_MODELS[endpoint]
    body: dict[str, Any] = {"prompt": "p", field: value}
    if "finetune_id" in model.model_fields:
        body["finetune_id"] = tenant.finetune_id
    if field == "mask":  # the image the mask goes with, valid
        body["image"] = b64(noise_image())
    return body


def test_the_cases_cover_every_image_field() -> None:
    # FLUX.1's 25; FLUX.2's input_image .. input_image_8 on pro, pro-preview, max and flex and
    # input_image .. input_image_4 on the three klein endpoints and the two klein -finetuned.
    assert len(IMAGE_CASES) == 25 + 4 * 8 + 5 * 4


@pytest.mark.parametrize(("endpoint", "field"), IMAGE_CASES)
def test_truncated_png_in_any_image_field_is_422_naming_it(
        client: TestClient, tenant: Tenant, endpoint: str, field: str) -> None:
    value = b64(truncated(noise_image(mode="RGBA" if field == "image" else "RGB")))
    r = client.post(f"/v1/{endpoint}", headers=tenant.headers,
                    json=body_for(endpoint, field, value, tenant))
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", field]
    assert err["msg"] == "Value error, not a decodable image: the data is truncated or corrupt"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_truncated_jpeg_and_webp_are_422(client: TestClient, tenant: Tenant, fmt: str) -> None:
    value = b64(truncated(noise_image((256, 256), fmt)))
    r = client.post("/v1/flux-pro-1.0-canny", headers=tenant.headers,
                    json={"prompt": "p", "control_image": value})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "control_image"]


def test_corrupt_pixel_data_is_422(client: TestClient, tenant: Tenant) -> None:
    raw = bytearray(noise_image((128, 128)))
    middle = len(raw) // 2
    raw[middle:middle + 64] = bytes(64)  # the zlib stream (and the chunk CRC) broken
    r = client.post("/v1/flux-kontext-pro", headers=tenant.headers,
                    json={"prompt": "p", "input_image_3": b64(bytes(raw))})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "input_image_3"]


def test_one_bad_image_fails_only_its_own_request(client: TestClient, tenant: Tenant) -> None:
    bad = client.post("/v1/flux-pro-1.0-canny", headers=tenant.headers,
                      json={"prompt": "p", "control_image": b64(truncated(noise_image()))})
    good = client.post("/v1/flux-pro-1.0-canny", headers=tenant.headers,
                       json={"prompt": "p", "control_image": b64(noise_image())})
    assert (bad.status_code, good.status_code) == (422, 200)
    assert good.json()["input_mp"] == 0.0  # 64x64 is 0.004 MP, to 2 places


def test_request_pixel_total_is_bounded_before_decoding(make_settings: Any, services: Any,
                                                        tenant: Tenant) -> None:
    settings = make_settings(max_image_pixels=64 * 64, max_request_pixels=3 * 64 * 64)
    images = {f"input_image{s}": b64(noise_image()) for s in ("", "_2", "_3", "_4")}
    with TestClient(create_app(settings, services)) as c:
        r = c.post("/v1/flux-kontext-pro", headers=tenant.headers, json={"prompt": "p", **images})
        assert r.status_code == 422, r.text
        [err] = r.json()["detail"]
        assert err["loc"] == ["body", "input_image_4"]
        assert "16384 pixels together, more than the limit of 12288" in err["msg"]
        del images["input_image_4"]
        r = c.post("/v1/flux-kontext-pro", headers=tenant.headers, json={"prompt": "p", **images})
        assert r.status_code == 200, r.text


def test_images_are_decoded_off_the_event_loop(client: TestClient, tenant: Tenant,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every full decode happens on a thread that is not running the event loop."""
    on_loop: list[bool] = []
    load = Image.Image.load

    def spying_load(self: Image.Image) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return load(self)

    monkeypatch.setattr(Image.Image, "load", spying_load)
    r = client.post("/v1/flux-pro-1.0-fill", headers=tenant.headers,
                    json={"prompt": "p", "image": b64(noise_image(mode="RGBA"))})
    assert r.status_code == 200, r.text
    assert on_loop and not any(on_loop)


def test_decode_limiter_bounds_one_key_not_the_others() -> None:
    """Key A's four heavy requests run one at a time; key B's runs beside them at once."""
    running: dict[str, int] = {"A": 0, "B": 0}
    peak: dict[str, int] = {"A": 0, "B": 0}
    lock = threading.Lock()
    release = threading.Event()

    def work(key: str) -> str:
        with lock:
            running[key] += 1
            peak[key] = max(peak[key], running[key])
        release.wait(5)
        with lock:
            running[key] -= 1
        return key

    async def scenario() -> list[str]:
        limiter = DecodeLimiter(total=4, per_key=1)
        tasks = [asyncio.ensure_future(limiter.run("A", work, "A")) for _ in range(4)]
        b = asyncio.ensure_future(limiter.run("B", work, "B"))
        for _ in range(200):  # B starts although A's first still holds its slot
            await asyncio.sleep(0.01)
            if running["B"]:
                break
        assert running == {"A": 1, "B": 1}
        release.set()
        done = await asyncio.gather(*tasks, b)
        assert limiter._keys == {}  # no entry outlives its requests
        return done

    assert asyncio.run(scenario()) == ["A"] * 4 + ["B"]
    assert peak == {"A": 1, "B": 1}


def test_check_images_reports_sizes_with_exif_rotation() -> None:
    from fluxhost.wire.base_inputs import CannyInputs

    img = Image.new("RGB", (300, 100), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # a quarter turn
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    body = CannyInputs.model_validate({"prompt": "p", "control_image": b64(buf.getvalue())})
    checked, errors = check_images(body, 10**6, 10**6)
    assert errors == []
    assert checked["control_image"].size == (100, 300)
